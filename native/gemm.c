/*
 * bitsmith's native float32 GEMM for Node (an optional addon, built by `npm install` with node-gyp where a C
 * compiler is present): C [m × n] (+)= A [m × k] · B [n × k]ᵀ over a Float32Array, usually a view of the
 * WebAssembly kernels' shared memory, which the addon reads and writes in place (no copies).
 *
 * Blocking as in BLIS/GotoBLAS: a KC × NC block of B packed into column panels of NR (stays in L3, one panel in
 * L1), an MC × KC block of A packed into row panels of MR (L2), and an MR × NR register tile of 12 accumulators
 * (x86-64 with AVX2 and FMA: 6 rows × two 8-lane vectors; elsewhere plain C the compiler vectorises).
 *
 * Arithmetic of one output element, the same whatever the shapes, the tile it falls in or the thread split (so
 * every thread count gives the same bits): k is cut into blocks of KC values starting at 0; within a block one
 * accumulator sums a[p]·b[p] in order of p by multiply-add (fused with AVX2 + FMA); the block's sum is added to C
 * (C starts at 0 unless accumulating). Threads take runs of whole NR-column panels.
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
#define KC 256
#define MC 96
#define NC 2048
#define MAX_THREADS 256

typedef struct {
  int m, n, k, lda, ldb, ldc, accumulate;
  const float *a, *b;
  float *c;
  int failed;
} Part;

/* Rows [0, mr) of A for k in [0, kc): for each p, MR values (zeros for rows past mr). */
static void pack_a(const float *a, int lda, int mr, int kc, float *dst) {
  for (int p = 0; p < kc; p++, dst += MR) {
    for (int i = 0; i < mr; i++) dst[i] = a[(size_t)i * lda + p];
    for (int i = mr; i < MR; i++) dst[i] = 0.0f;
  }
}

#ifdef BITSMITH_AVX2
/* The 8 × 8 block at rows r[0..7], values [p, p + 8) transposed: dst[q · NR + i] = r[i][p + q]. */
static void transpose8(const float *const r[8], int p, float *dst) {
  __m256 x0 = _mm256_loadu_ps(r[0] + p), x1 = _mm256_loadu_ps(r[1] + p), x2 = _mm256_loadu_ps(r[2] + p), x3 = _mm256_loadu_ps(r[3] + p);
  __m256 x4 = _mm256_loadu_ps(r[4] + p), x5 = _mm256_loadu_ps(r[5] + p), x6 = _mm256_loadu_ps(r[6] + p), x7 = _mm256_loadu_ps(r[7] + p);
  __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1), t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
  __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5), t6 = _mm256_unpacklo_ps(x6, x7), t7 = _mm256_unpackhi_ps(x6, x7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee), u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee), u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  _mm256_store_ps(dst + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_store_ps(dst + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_store_ps(dst + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_store_ps(dst + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_store_ps(dst + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_store_ps(dst + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_store_ps(dst + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_store_ps(dst + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

/* Rows [0, nr) of B (output columns) for k in [0, kc): for each p, NR values (zeros past nr). */
static void pack_b(const float *b, int ldb, int nr, int kc, float *dst) {
#ifdef BITSMITH_AVX2
  if (nr == NR) {
    /* Whole panels by 8 × 8 transposes (packing B is most of the cost when A has few rows). */
    const float *lo[8], *hi[8];
    for (int i = 0; i < 8; i++) {
      lo[i] = b + (size_t)i * ldb;
      hi[i] = b + (size_t)(i + 8) * ldb;
    }
    int p = 0;
    for (; p + 8 <= kc; p += 8, dst += 8 * NR) {
      transpose8(lo, p, dst);
      transpose8(hi, p, dst + 8);
    }
    for (; p < kc; p++, dst += NR)
      for (int j = 0; j < NR; j++) dst[j] = b[(size_t)j * ldb + p];
    return;
  }
#endif
  for (int p = 0; p < kc; p++, dst += NR) {
    for (int j = 0; j < nr; j++) dst[j] = b[(size_t)j * ldb + p];
    for (int j = nr; j < NR; j++) dst[j] = 0.0f;
  }
}

/* Adds (or, without `load`, writes) rows [0, mr) × columns [0, nr) of the tile t to C. */
static void store_tile(float t[MR][NR], float *c, int ldc, int mr, int nr, int load) {
  for (int i = 0; i < mr; i++) {
    float *row = c + (size_t)i * ldc;
    if (load)
      for (int j = 0; j < nr; j++) row[j] += t[i][j];
    else
      for (int j = 0; j < nr; j++) row[j] = t[i][j];
  }
}

#ifdef BITSMITH_AVX2
static void tile(int kc, const float *a, const float *b, float *c, int ldc, int mr, int nr, int load) {
  __m256 acc[MR][2];
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++, a += MR, b += NR) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    for (int i = 0; i < MR; i++) {
      const __m256 x = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
    }
  }
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; i++) {
      float *row = c + (size_t)i * ldc;
      if (load) {
        acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(row), acc[i][0]);
        acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(row + 8), acc[i][1]);
      }
      _mm256_storeu_ps(row, acc[i][0]);
      _mm256_storeu_ps(row + 8, acc[i][1]);
    }
    return;
  }
  float t[MR][NR];
  for (int i = 0; i < MR; i++) {
    _mm256_storeu_ps(t[i], acc[i][0]);
    _mm256_storeu_ps(t[i] + 8, acc[i][1]);
  }
  store_tile(t, c, ldc, mr, nr, load);
}
#else
static void tile(int kc, const float *a, const float *b, float *c, int ldc, int mr, int nr, int load) {
  float t[MR][NR];
  memset(t, 0, sizeof t);
  for (int p = 0; p < kc; p++, a += MR, b += NR)
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) t[i][j] += a[i] * b[j];
  store_tile(t, c, ldc, mr, nr, load);
}
#endif

static int min(int x, int y) { return x < y ? x : y; }

static void *gemm_part(void *arg) {
  Part *q = (Part *)arg;
  if (q->n <= 0) return NULL;
  float *pa = (float *)malloc(sizeof(float) * MC * KC + 64);
  float *pb = (float *)malloc(sizeof(float) * (size_t)min(NC, q->n + NR) * KC + 64);
  if (!pa || !pb) {
    free(pa);
    free(pb);
    q->failed = 1;
    return NULL;
  }
  /* 32-byte aligned panels for the aligned vector loads. */
  float *apack = (float *)(((uintptr_t)pa + 31) & ~(uintptr_t)31);
  float *bpack = (float *)(((uintptr_t)pb + 31) & ~(uintptr_t)31);
  for (int jc = 0; jc < q->n; jc += NC) {
    const int nc = min(NC, q->n - jc);
    for (int pc = 0; pc < q->k; pc += KC) {
      const int kc = min(KC, q->k - pc);
      const int load = q->accumulate || pc > 0;
      for (int jr = 0; jr < nc; jr += NR) pack_b(q->b + (size_t)(jc + jr) * q->ldb + pc, q->ldb, min(NR, nc - jr), kc, bpack + (size_t)jr * kc);
      for (int ic = 0; ic < q->m; ic += MC) {
        const int mc = min(MC, q->m - ic);
        for (int ir = 0; ir < mc; ir += MR) pack_a(q->a + (size_t)(ic + ir) * q->lda + pc, q->lda, min(MR, mc - ir), kc, apack + (size_t)ir * kc);
        for (int jr = 0; jr < nc; jr += NR)
          for (int ir = 0; ir < mc; ir += MR)
            tile(kc, apack + (size_t)ir * kc, bpack + (size_t)jr * kc, q->c + (size_t)(ic + ir) * q->ldc + jc + jr, q->ldc, min(MR, mc - ir), min(NR, nc - jr), load);
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
 * gemmNT(view, m, n, k, a, lda, b, ldb, c, ldc, accumulate, threads): `view` a Float32Array; a, b, c indices of
 * the operands' first values in it, leading dimensions in values. Runs on `threads` threads (the calling one
 * included), each a run of whole NR-column panels of C; returns when C is written.
 */
static napi_value gemm_nt(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 12) return fail(env, "gemmNT: 12 arguments expected");
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float32_array) return fail(env, "gemmNT: the view must be a Float32Array");
  int64_t v[9], threads;
  bool accumulate;
  for (int i = 0; i < 9; i++) {
    if (napi_get_value_int64(env, argv[i + 1], &v[i]) != napi_ok) return fail(env, "gemmNT: integer arguments expected");
  }
  if (napi_get_value_bool(env, argv[10], &accumulate) != napi_ok) return fail(env, "gemmNT: accumulate must be a boolean");
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
  /* Panels per thread: whole NR-column panels, the last part taking the rest. */
  const int64_t panels = (n + NR - 1) / NR;
  int parts = (int)(threads < panels ? threads : panels);
  if (parts > MAX_THREADS) parts = MAX_THREADS;
#ifdef _WIN32
  parts = 1;
#endif
  const int64_t per = (panels + parts - 1) / parts;
  Part part[MAX_THREADS];
  int count = 0;
  for (int64_t first = 0; first < panels; first += per, count++) {
    const int64_t n0 = first * NR, n1 = (first + per) * NR < n ? (first + per) * NR : n;
    part[count] = (Part){(int)m, (int)(n1 - n0), (int)k, (int)lda, (int)ldb, (int)ldc, accumulate, f + a, f + b + n0 * ldb, f + c + n0, 0};
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
