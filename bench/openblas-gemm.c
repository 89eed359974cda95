/*
 * OpenBLAS reference for bench/kernels.ts: the best GFLOP/s of `reps` runs, by wall clock and by the
 * process's CPU time (all threads), of
 *   C [m x n] = A [m x k] * B [n x k]^T   (cblas_sgemm, row-major; bitsmith's gemmNT)
 * or, for m = 1, y [n] = W [n x k] * x [k] (cblas_sgemv). Threads: OPENBLAS_NUM_THREADS.
 * Built and run by the bench: cc -O2 bench/openblas-gemm.c -lopenblas
 * Usage: openblas-gemm m n k reps   (prints: wall-clock GFLOP/s, CPU-time GFLOP/s)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s m n k reps\n", argv[0]);
    return 2;
  }
  long m = atol(argv[1]), n = atol(argv[2]), k = atol(argv[3]), reps = atol(argv[4]);
  float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k), *c = malloc(sizeof(float) * m * n);
  if (!a || !b || !c) return 1;
  unsigned s = 1;
  for (long i = 0; i < m * k; i++) a[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f;
  for (long i = 0; i < n * k; i++) b[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f;
  double best = 1e30, bestCpu = 1e30;
  for (long r = 0; r <= reps; r++) {
    double t = seconds(CLOCK_MONOTONIC), u = seconds(CLOCK_PROCESS_CPUTIME_ID);
    if (m == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, b, k, a, 1, 0.0f, c, 1);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    t = seconds(CLOCK_MONOTONIC) - t;
    u = seconds(CLOCK_PROCESS_CPUTIME_ID) - u;
    if (r > 0 && t < best) best = t; /* run 0 warms up */
    if (r > 0 && u < bestCpu) bestCpu = u;
  }
  printf("%.3f %.3f\n", 2.0 * m * n * k / best / 1e9, 2.0 * m * n * k / bestCpu / 1e9);
  return 0;
}
