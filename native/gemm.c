/*
 * bitsmith's native GEMM for Node (an optional addon, built by `npm install` with node-gyp where a C compiler is
 * present): C [m × n] (+)= A [m × k] · B [n × k]ᵀ of float32 values over a Float32Array, usually a view of the
 * WebAssembly kernels' shared memory, which the addon reads and writes in place (no copies). Sums in float32, or
 * in float64 over the exact products of the float32 values (the engine's quantized weights, for llama.cpp's
 * integer dot products).
 *
 * Blocking as in BLIS/GotoBLAS: a KC × NC block of B packed into column panels of NR (stays in L3, one panel in
 * L1), an MC × KC block of A packed into row panels of MR (L2), and an MR × NR register tile of 12 accumulators
 * (x86-64 with AVX2 and FMA: 6 rows × two vectors, of 8 float32 or 4 float64 lanes; elsewhere plain C the
 * compiler vectorises). Float64 packs the values already promoted.
 *
 * Arithmetic of one output element, the same whatever the shapes, the tile it falls in or the thread split (so
 * every thread count gives the same bits): k is cut into blocks of KC values starting at 0; within a block one
 * accumulator sums a[p]·b[p] in order of p by multiply-add (fused with AVX2 + FMA; in float64 the products are
 * exact, so fused or not is the same); the block's sum is added to C (in float64 then rounded, for float64 sums;
 * C starts at 0 unless accumulating). Products of at most DIRECT_ROWS rows in float32 are computed without
 * packing (see direct_part). Threads take runs of whole NR-column panels.
 */
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <pthread.h>
#endif
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define BITSMITH_AVX2 1
#endif

#define MR 6
#define NR 16
#define NR64 8
#define KC 256
#define MC 96
#define MAX_THREADS 256

/* One precision's packing and register tile; the blocking loop (gemm_part) is shared. */
typedef struct {
  int nr, nc;
  size_t size; /* bytes per packed value */
  void (*pack_a)(const float *a, int lda, int mr, int kc, void *dst);
  void (*pack_b)(const float *b, int ldb, int nr, int kc, void *dst);
  void (*tile)(int kc, const void *a, const void *b, float *c, int ldc, int mr, int nr, int load);
} Kernel;

typedef struct {
  int m, n, k, lda, ldb, ldc, accumulate;
  const float *a, *b;
  float *c;
  const Kernel *kernel;
  int failed;
} Part;

/* Rows [0, mr) of A for k in [0, kc): for each p, MR values as T (zeros for rows past mr). */
#define DEFINE_PACK_A(name, T)                                           \
  static void name(const float *a, int lda, int mr, int kc, void *out) { \
    T *dst = (T *)out;                                                   \
    for (int p = 0; p < kc; p++, dst += MR) {                            \
      for (int i = 0; i < mr; i++) dst[i] = a[(size_t)i * lda + p];      \
      for (int i = mr; i < MR; i++) dst[i] = 0;                          \
    }                                                                    \
  }
DEFINE_PACK_A(pack_a, float)
DEFINE_PACK_A(pack_a64, double)

#ifdef BITSMITH_AVX2
/* The 8 × 8 block at rows r[0..7], values [p, p + 8) transposed: dst[q · stride + i] = r[i][p + q]. */
static void transpose8(const float *const r[8], int p, float *dst, int stride) {
  __m256 x0 = _mm256_loadu_ps(r[0] + p), x1 = _mm256_loadu_ps(r[1] + p), x2 = _mm256_loadu_ps(r[2] + p), x3 = _mm256_loadu_ps(r[3] + p);
  __m256 x4 = _mm256_loadu_ps(r[4] + p), x5 = _mm256_loadu_ps(r[5] + p), x6 = _mm256_loadu_ps(r[6] + p), x7 = _mm256_loadu_ps(r[7] + p);
  __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1), t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
  __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5), t6 = _mm256_unpacklo_ps(x6, x7), t7 = _mm256_unpackhi_ps(x6, x7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee), u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee), u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  _mm256_storeu_ps(dst + 0 * stride, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 1 * stride, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * stride, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * stride, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * stride, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * stride, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * stride, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * stride, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

/* Rows [0, nr) of B (output columns) for k in [0, kc): for each p, NR values (zeros past nr). */
static void pack_b(const float *b, int ldb, int nr, int kc, void *out) {
  float *dst = (float *)out;
  int p = 0;
#ifdef BITSMITH_AVX2
  if (nr == NR) {
    /* Whole panels by 8 × 8 transposes (packing B is most of the cost when A has few rows). */
    const float *lo[8], *hi[8];
    for (int i = 0; i < 8; i++) {
      lo[i] = b + (size_t)i * ldb;
      hi[i] = b + (size_t)(i + 8) * ldb;
    }
    for (; p + 8 <= kc; p += 8, dst += 8 * NR) {
      transpose8(lo, p, dst, NR);
      transpose8(hi, p, dst + 8, NR);
    }
  }
#endif
  for (; p < kc; p++, dst += NR) {
    for (int j = 0; j < nr; j++) dst[j] = b[(size_t)j * ldb + p];
    for (int j = nr; j < NR; j++) dst[j] = 0.0f;
  }
}

/* As pack_b with NR64 columns per panel, promoted to float64. */
static void pack_b64(const float *b, int ldb, int nr, int kc, void *out) {
  double *dst = (double *)out;
  int p = 0;
#ifdef BITSMITH_AVX2
  if (nr == NR64) {
    const float *rows[8];
    for (int i = 0; i < 8; i++) rows[i] = b + (size_t)i * ldb;
    float t[8 * NR64];
    for (; p + 8 <= kc; p += 8, dst += 8 * NR64) {
      transpose8(rows, p, t, NR64);
      for (int q = 0; q < 8; q++) {
        _mm256_store_pd(dst + q * NR64, _mm256_cvtps_pd(_mm_loadu_ps(t + q * NR64)));
        _mm256_store_pd(dst + q * NR64 + 4, _mm256_cvtps_pd(_mm_loadu_ps(t + q * NR64 + 4)));
      }
    }
  }
#endif
  for (; p < kc; p++, dst += NR64) {
    for (int j = 0; j < nr; j++) dst[j] = b[(size_t)j * ldb + p];
    for (int j = nr; j < NR64; j++) dst[j] = 0.0;
  }
}

/*
 * Adds (or, without `load`, writes) rows [0, mr) × columns [0, nr) of the tile t (T values, W per row) to C; the
 * sum is taken in T, then rounded to float32.
 */
#define DEFINE_STORE_TILE(name, T, W)                                                      \
  static void name(T t[MR][W], float *c, int ldc, int mr, int nr, int load) {              \
    for (int i = 0; i < mr; i++) {                                                         \
      float *row = c + (size_t)i * ldc;                                                    \
      for (int j = 0; j < nr; j++) row[j] = (float)(load ? (T)row[j] + t[i][j] : t[i][j]); \
    }                                                                                      \
  }
DEFINE_STORE_TILE(store_tile, float, NR)
DEFINE_STORE_TILE(store_tile64, double, NR64)

#ifdef BITSMITH_AVX2
/*
 * The register tile's products, for either precision: acc[i][h] (vector type V) = Σ_p a[i]·b[half h of the panel]
 * over kc values of packed panels `a` (MR per p) and `b` (width per p). The accumulators are named variables:
 * GCC keeps an array of them in memory and stores every pass (measured: half the speed).
 */
#define TILE_PRODUCT(V, ZERO, LOAD, BROADCAST, FMA, width)                                      \
  V c00 = ZERO(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;                       \
  V c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;                          \
  for (int p = 0; p < kc; p++, a += MR, b += (width)) {                                         \
    const V b0 = LOAD(b), b1 = LOAD(b + (width) / 2);                                           \
    V x;                                                                                        \
    x = BROADCAST(a + 0), c00 = FMA(x, b0, c00), c01 = FMA(x, b1, c01);                         \
    x = BROADCAST(a + 1), c10 = FMA(x, b0, c10), c11 = FMA(x, b1, c11);                         \
    x = BROADCAST(a + 2), c20 = FMA(x, b0, c20), c21 = FMA(x, b1, c21);                         \
    x = BROADCAST(a + 3), c30 = FMA(x, b0, c30), c31 = FMA(x, b1, c31);                         \
    x = BROADCAST(a + 4), c40 = FMA(x, b0, c40), c41 = FMA(x, b1, c41);                         \
    x = BROADCAST(a + 5), c50 = FMA(x, b0, c50), c51 = FMA(x, b1, c51);                         \
  }                                                                                             \
  V acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}}

/* C's float32 values as the tile's vectors and back: 8 float32, or 4 promoted to float64 (stored rounded). */
static inline __m256 load_c(const float *p) { return _mm256_loadu_ps(p); }
static inline void store_c(float *p, __m256 v) { _mm256_storeu_ps(p, v); }
static inline __m256d load_c64(const float *p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
static inline void store_c64(float *p, __m256d v) { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }

/* tile / tile64: the register tile's products, then C (+)= them; partial tiles through memory and store_tile. */
#define DEFINE_TILE(name, T, V, W, ZERO, LOAD, STORE, BROADCAST, FMA, ADD, LOAD_C, STORE_C, store_tile)    \
  static void name(int kc, const void *pa, const void *pb, float *c, int ldc, int mr, int nr, int load) { \
    const T *a = (const T *)pa, *b = (const T *)pb;                                                      \
    TILE_PRODUCT(V, ZERO, LOAD, BROADCAST, FMA, W);                                                      \
    if (mr == MR && nr == (W)) {                                                                         \
      for (int i = 0; i < MR; i++)                                                                       \
        for (int h = 0; h < 2; h++) {                                                                    \
          float *at = c + (size_t)i * ldc + h * (W) / 2;                                                 \
          STORE_C(at, load ? ADD(LOAD_C(at), acc[i][h]) : acc[i][h]);                                    \
        }                                                                                                \
      return;                                                                                            \
    }                                                                                                    \
    T t[MR][W];                                                                                          \
    for (int i = 0; i < MR; i++)                                                                         \
      for (int h = 0; h < 2; h++) STORE(t[i] + h * (W) / 2, acc[i][h]);                                  \
    store_tile(t, c, ldc, mr, nr, load);                                                                 \
  }
DEFINE_TILE(tile, float, __m256, NR, _mm256_setzero_ps, _mm256_load_ps, _mm256_storeu_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_add_ps, load_c, store_c, store_tile)
DEFINE_TILE(tile64, double, __m256d, NR64, _mm256_setzero_pd, _mm256_load_pd, _mm256_storeu_pd, _mm256_broadcast_sd, _mm256_fmadd_pd, _mm256_add_pd, load_c64, store_c64, store_tile64)
#else
/* tile / tile64 in plain C (the compiler vectorises the j loop). */
#define DEFINE_PORTABLE_TILE(name, T, W, store_tile)                                                     \
  static void name(int kc, const void *pa, const void *pb, float *c, int ldc, int mr, int nr, int load) { \
    const T *a = (const T *)pa, *b = (const T *)pb;                                                      \
    T t[MR][W];                                                                                          \
    memset(t, 0, sizeof t);                                                                              \
    for (int p = 0; p < kc; p++, a += MR, b += (W))                                                      \
      for (int i = 0; i < MR; i++)                                                                       \
        for (int j = 0; j < (W); j++) t[i][j] += a[i] * b[j];                                            \
    store_tile(t, c, ldc, mr, nr, load);                                                                 \
  }
DEFINE_PORTABLE_TILE(tile, float, NR, store_tile)
DEFINE_PORTABLE_TILE(tile64, double, NR64, store_tile64)
#endif

/*
 * Few rows of A (GEMV while generating): no packing, which would cost more than the products. DIRECT_COLS rows
 * of B at a time (eight streams in flight: measured faster than four) against each row of A, B read once; each
 * element sums eight lanes (p ≡ lane mod 8, in order of p), then the lanes pairwise
 * ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), then the last k mod 8 products in order.
 */
#define DIRECT_ROWS 3
#define DIRECT_COLS 8

static float direct_tail(const float *a, const float *b, int from, int k, float sum) {
  for (int p = from; p < k; p++) sum += a[p] * b[p];
  return sum;
}

#ifdef BITSMITH_AVX2
static float lanes_sum(__m256 v) {
  const __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); /* l0+l4, l1+l5, l2+l6, l3+l7 */
  const __m128 y = _mm_add_ps(x, _mm_movehl_ps(x, x));                              /* (l0+l4)+(l2+l6), (l1+l5)+(l3+l7) */
  return _mm_cvtss_f32(_mm_add_ss(y, _mm_shuffle_ps(y, y, 1)));
}

static void direct_rows(const float *a, const float *const b[DIRECT_COLS], int k, float out[DIRECT_COLS]) {
  __m256 s[DIRECT_COLS];
  for (int r = 0; r < DIRECT_COLS; r++) s[r] = _mm256_setzero_ps();
  int p = 0;
  for (; p + 8 <= k; p += 8) {
    const __m256 x = _mm256_loadu_ps(a + p);
    for (int r = 0; r < DIRECT_COLS; r++) s[r] = _mm256_fmadd_ps(x, _mm256_loadu_ps(b[r] + p), s[r]);
  }
  for (int r = 0; r < DIRECT_COLS; r++) out[r] = direct_tail(a, b[r], p, k, lanes_sum(s[r]));
}
#else
static void direct_rows(const float *a, const float *const b[DIRECT_COLS], int k, float out[DIRECT_COLS]) {
  for (int r = 0; r < DIRECT_COLS; r++) {
    float l[8] = {0};
    int p = 0;
    for (; p + 8 <= k; p += 8)
      for (int q = 0; q < 8; q++) l[q] += a[p + q] * b[r][p + q];
    out[r] = direct_tail(a, b[r], p, k, (((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))));
  }
}
#endif

static void direct_part(Part *q) {
  for (int j = 0; j < q->n; j += DIRECT_COLS) {
    const float *b[DIRECT_COLS];
    for (int r = 0; r < DIRECT_COLS; r++) b[r] = q->b + (size_t)(j + (j + r < q->n ? r : 0)) * q->ldb;
    for (int i = 0; i < q->m; i++) {
      float sum[DIRECT_COLS];
      direct_rows(q->a + (size_t)i * q->lda, b, q->k, sum);
      float *row = q->c + (size_t)i * q->ldc + j;
      for (int r = 0; r < DIRECT_COLS && j + r < q->n; r++) row[r] = q->accumulate ? row[r] + sum[r] : sum[r];
    }
  }
}

static const Kernel F32 = {NR, 2048, sizeof(float), pack_a, pack_b, tile};
static const Kernel F64 = {NR64, 1024, sizeof(double), pack_a64, pack_b64, tile64};

static int min(int x, int y) { return x < y ? x : y; }

static void *gemm_part(void *arg) {
  Part *q = (Part *)arg;
  const Kernel *K = q->kernel;
  if (q->n <= 0) return NULL;
  if (q->m <= DIRECT_ROWS && K == &F32) {
    direct_part(q);
    return NULL;
  }
  const int nr = K->nr;
  char *pa = (char *)malloc(K->size * MC * KC + 64);
  char *pb = (char *)malloc(K->size * (size_t)min(K->nc, q->n + nr) * KC + 64);
  if (!pa || !pb) {
    free(pa);
    free(pb);
    q->failed = 1;
    return NULL;
  }
  /* 32-byte aligned panels for the aligned vector loads. */
  char *apack = (char *)(((uintptr_t)pa + 31) & ~(uintptr_t)31);
  char *bpack = (char *)(((uintptr_t)pb + 31) & ~(uintptr_t)31);
  for (int jc = 0; jc < q->n; jc += K->nc) {
    const int nc = min(K->nc, q->n - jc);
    for (int pc = 0; pc < q->k; pc += KC) {
      const int kc = min(KC, q->k - pc);
      const int load = q->accumulate || pc > 0;
      for (int jr = 0; jr < nc; jr += nr) K->pack_b(q->b + (size_t)(jc + jr) * q->ldb + pc, q->ldb, min(nr, nc - jr), kc, bpack + K->size * jr * kc);
      for (int ic = 0; ic < q->m; ic += MC) {
        const int mc = min(MC, q->m - ic);
        for (int ir = 0; ir < mc; ir += MR) K->pack_a(q->a + (size_t)(ic + ir) * q->lda + pc, q->lda, min(MR, mc - ir), kc, apack + K->size * ir * kc);
        for (int jr = 0; jr < nc; jr += nr)
          for (int ir = 0; ir < mc; ir += MR)
            K->tile(kc, apack + K->size * ir * kc, bpack + K->size * jr * kc, q->c + (size_t)(ic + ir) * q->ldc + jc + jr, q->ldc, min(MR, mc - ir), min(nr, nc - jr), load);
      }
    }
  }
  free(pa);
  free(pb);
  return NULL;
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/*
 * gemmNT(view, m, n, k, a, lda, b, ldb, c, ldc, accumulate, threads, float64): `view` a Float32Array; a, b, c
 * indices of the operands' first values in it, leading dimensions in values; float64: sum in float64. Runs on
 * `threads` threads (the calling one included), each a run of whole NR-column panels of C; returns when C is
 * written.
 */
static napi_value gemm_nt(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 13) return fail(env, "gemmNT: 13 arguments expected");
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float32_array) return fail(env, "gemmNT: the view must be a Float32Array");
  int64_t v[9], threads;
  bool accumulate;
  for (int i = 0; i < 9; i++) {
    if (napi_get_value_int64(env, argv[i + 1], &v[i]) != napi_ok) return fail(env, "gemmNT: integer arguments expected");
  }
  bool wide;
  if (napi_get_value_bool(env, argv[10], &accumulate) != napi_ok || napi_get_value_bool(env, argv[12], &wide) != napi_ok) return fail(env, "gemmNT: accumulate and float64 must be booleans");
  const Kernel *kernel = wide ? &F64 : &F32;
  if (napi_get_value_int64(env, argv[11], &threads) != napi_ok) return fail(env, "gemmNT: integer arguments expected");
  const int64_t m = v[0], n = v[1], k = v[2], a = v[3], lda = v[4], b = v[5], ldb = v[6], c = v[7], ldc = v[8];
  if (m < 0 || n < 0 || k < 0 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda < k || ldb < k || ldc < n || threads < 1) return fail(env, "gemmNT: bad shape");
  /* Every operand inside the view (the last row needs only its own length). */
  const int64_t len = (int64_t)length;
  if (m > 0 && k > 0 && (a < 0 || a + (m - 1) * lda + k > len)) return fail(env, "gemmNT: A outside the view");
  if (n > 0 && k > 0 && (b < 0 || b + (n - 1) * ldb + k > len)) return fail(env, "gemmNT: B outside the view");
  if (m > 0 && n > 0 && (c < 0 || c + (m - 1) * ldc + n > len)) return fail(env, "gemmNT: C outside the view");
  if (m == 0 || n == 0) return NULL;
  float *f = (float *)data;
  if (k == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; i++) memset(f + c + i * ldc, 0, sizeof(float) * (size_t)n);
    return NULL;
  }
  /* Panels per thread: whole panels, the last part taking the rest. */
  const int64_t nr = kernel->nr;
  const int64_t panels = (n + nr - 1) / nr;
  int parts = (int)(threads < panels ? threads : panels);
  if (parts > MAX_THREADS) parts = MAX_THREADS;
#ifdef _WIN32
  parts = 1;
#endif
  const int64_t per = (panels + parts - 1) / parts;
  Part part[MAX_THREADS];
  int count = 0;
  for (int64_t first = 0; first < panels; first += per, count++) {
    const int64_t n0 = first * nr, n1 = (first + per) * nr < n ? (first + per) * nr : n;
    part[count] = (Part){(int)m, (int)(n1 - n0), (int)k, (int)lda, (int)ldb, (int)ldc, accumulate, f + a, f + b + n0 * ldb, f + c + n0, kernel, 0};
  }
#ifndef _WIN32
  pthread_t tid[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  for (int i = 1; i < count; i++) started[i] = pthread_create(&tid[i], NULL, gemm_part, &part[i]) == 0;
  for (int i = 1; i < count; i++)
    if (!started[i]) gemm_part(&part[i]);
#endif
  gemm_part(&part[0]);
#ifndef _WIN32
  for (int i = 1; i < count; i++)
    if (started[i]) pthread_join(tid[i], NULL);
#endif
  for (int i = 0; i < count; i++)
    if (part[i].failed) return fail(env, "gemmNT: out of memory for packing buffers");
  return NULL;
}

/* What this build computes with, e.g. "avx2+fma". */
static napi_value features(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value s;
#ifdef BITSMITH_AVX2
  napi_create_string_utf8(env, "avx2+fma", NAPI_AUTO_LENGTH, &s);
#else
  napi_create_string_utf8(env, "portable c", NAPI_AUTO_LENGTH, &s);
#endif
  return s;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "gemmNT", NAPI_AUTO_LENGTH, gemm_nt, NULL, &fn);
  napi_set_named_property(env, exports, "gemmNT", fn);
  napi_create_function(env, "features", NAPI_AUTO_LENGTH, features, NULL, &fn);
  napi_set_named_property(env, exports, "features", fn);
  return exports;
}
