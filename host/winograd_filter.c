/* Winograd's filter transform, shared by the CPU and OpenCL Winograd solvers. */
#include "internal.h"

/* G of F(2x2, 3x3) and F(4x4, 3x3): (m + 2) x 3. */
static const double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double g4[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};

void convcl_winograd_filter(int m, const float *f, double u[6][6]) {
  const double(*g)[3] = m == 4 ? g4 : g2;
  const int a = m + 2;
  double t[6][3]; /* G f */
  for (int i = 0; i < a; i++)
    for (int j = 0; j < 3; j++) t[i][j] = g[i][0] * f[j] + g[i][1] * f[3 + j] + g[i][2] * f[6 + j];
  for (int i = 0; i < a; i++)
    for (int j = 0; j < a; j++) u[i][j] = t[i][0] * g[j][0] + t[i][1] * g[j][1] + t[i][2] * g[j][2];
}
