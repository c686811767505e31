/* The generic CPU solver: every convolution and transposed convolution, any padding
 * mode. Per spatial dimension a gather table maps (output index, tap) to the input
 * index or -1, which folds stride, dilation, padding modes and the transposed
 * gather form into one loop nest. One task per (batch, output channel) plane. The
 * tables count as the plan's workspace. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

typedef struct direct_plan {
  float *weights;
  float *bias;
  int64_t *table[3]; /* [out[i] * kernel[i]] */
} direct_plan;

static int64_t gather_index(const convcl_problem *p, int dim, int64_t o, int64_t t) {
  const int64_t s = p->stride[dim], d = p->dilation[dim], pb = p->pad_begin[dim];
  if (!p->transposed) return convcl_cpu_source_index(p->mode, o * s - pb + t * d, p->in[dim]);
  const int64_t x = o + pb - t * d;
  if (x < 0 || x % s != 0 || x / s >= p->in[dim]) return -1;
  return x / s;
}

static void direct_destroy(convcl_plan *plan) {
  direct_plan *dp = plan->impl;
  if (!dp) return;
  for (int i = 0; i < 3; i++) free(dp->table[i]);
  free(dp->weights);
  free(dp->bias);
  free(dp);
  plan->impl = NULL;
}

static convcl_status direct_create(convcl_plan *plan, const float *weights, const float *bias) {
  const convcl_problem *p = &plan->problem;
  direct_plan *dp = calloc(1, sizeof *dp);
  if (!dp) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate a CPU plan");
  plan->impl = dp;
  dp->weights = malloc((size_t)p->weight_elems * sizeof(float));
  if (p->has_bias) dp->bias = malloc((size_t)p->k * sizeof(float));
  int ok = dp->weights && (!p->has_bias || dp->bias);
  for (int i = 0; i < 3 && ok; i++) {
    dp->table[i] = malloc((size_t)(p->out[i] * p->kernel[i]) * sizeof(int64_t));
    ok = dp->table[i] != NULL;
  }
  if (!ok) {
    direct_destroy(plan);
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate %lld weights for a CPU plan",
                        (long long)p->weight_elems);
  }
  memcpy(dp->weights, weights, (size_t)p->weight_elems * sizeof(float));
  if (p->has_bias) memcpy(dp->bias, bias, (size_t)p->k * sizeof(float));
  for (int i = 0; i < 3; i++)
    for (int64_t o = 0; o < p->out[i]; o++)
      for (int64_t t = 0; t < p->kernel[i]; t++)
        dp->table[i][o * p->kernel[i] + t] = gather_index(p, i, o, t);
  return CONVCL_OK;
}

typedef struct direct_job {
  const convcl_problem *p;
  const direct_plan *dp;
  const float *input;
  float *output;
} direct_job;

static void direct_plane(void *arg, int64_t plane) {
  const direct_job *job = arg;
  const convcl_problem *p = job->p;
  const direct_plan *dp = job->dp;
  const int64_t n = plane / p->k, oc = plane % p->k;
  const int64_t cg = p->c / p->groups, kg = p->k / p->groups, g = oc / kg;
  const int64_t od_n = p->out[0], oh_n = p->out[1], ow_n = p->out[2];
  const int64_t kd_n = p->kernel[0], kh_n = p->kernel[1], kw_n = p->kernel[2];
  const int64_t in_plane = p->in[0] * p->in[1] * p->in[2];
  float *out = job->output + plane * od_n * oh_n * ow_n;
  const float b = p->has_bias ? dp->bias[oc] : 0.0f;
  for (int64_t i = 0; i < od_n * oh_n * ow_n; i++) out[i] = b;
  for (int64_t icg = 0; icg < cg; icg++) {
    const int64_t ic = g * cg + icg;
    const float *x = job->input + (n * p->c + ic) * in_plane;
    const float *w =
        dp->weights + (p->transposed ? (ic * kg + oc % kg) : (oc * cg + icg)) * p->kernel_elems;
    for (int64_t kd = 0; kd < kd_n; kd++)
      for (int64_t kh = 0; kh < kh_n; kh++)
        for (int64_t kw = 0; kw < kw_n; kw++) {
          const float wv = w[(kd * kh_n + kh) * kw_n + kw];
          /* A tap on zero padding adds wv * 0: nothing, unless wv is Inf or NaN, when
           * it is NaN, as in PyTorch's sum over the padded input. (A transposed
           * convolution's skipped taps are no terms at all.) */
          const float pad_term = wv * 0.0f;
          const int pad_nan = !p->transposed && pad_term != pad_term;
          for (int64_t od = 0; od < od_n; od++) {
            const int64_t id = dp->table[0][od * kd_n + kd];
            if (id < 0 && !pad_nan) continue;
            for (int64_t oh = 0; oh < oh_n; oh++) {
              const int64_t ih = dp->table[1][oh * kh_n + kh];
              float *orow = out + (od * oh_n + oh) * ow_n;
              if (id < 0 || ih < 0) {
                for (int64_t ow = 0; pad_nan && ow < ow_n; ow++) orow[ow] += pad_term;
                continue;
              }
              const float *row = x + (id * p->in[1] + ih) * p->in[2];
              const int64_t *tw = dp->table[2] + kw;
              for (int64_t ow = 0; ow < ow_n; ow++) {
                const int64_t iw = tw[ow * kw_n];
                if (iw >= 0)
                  orow[ow] += wv * row[iw];
                else if (pad_nan)
                  orow[ow] += pad_term;
              }
            }
          }
        }
  }
  if (p->relu)
    for (int64_t i = 0; i < od_n * oh_n * ow_n; i++) out[i] = convcl_cpu_relu(out[i]);
}

static convcl_status direct_run(convcl_plan *plan, const float *input, float *output) {
  direct_job job = {&plan->problem, plan->impl, input, output};
  convcl_pool_for(convcl_cpu_pool(plan->ctx), plan->problem.n * plan->problem.k, direct_plane,
                  &job);
  return CONVCL_OK;
}

/* The gather tables' bytes (one entry per output index and tap, per dimension), or 0
 * when they pass the CPU workspace budget: a transposed layer's output and kernel may
 * both be long where its FLOPs are few. */
static size_t table_bytes(const convcl_problem *p) {
  const size_t budget = convcl_cpu_workspace_budget(p) / sizeof(int64_t);
  size_t entries = 0;
  for (int i = 0; i < 3; i++) {
    if (p->kernel[i] > 0 && (uint64_t)p->out[i] > budget / (uint64_t)p->kernel[i]) return 0;
    entries += (size_t)(p->out[i] * p->kernel[i]);
    if (entries > budget) return 0;
  }
  return entries * sizeof(int64_t);
}

/* Every convolution whose gather tables fit the budget: all but such extreme layers,
 * which the implicit GEMM and the transposed GEMM still take. */
static int direct_applicable(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return table_bytes(p) > 0;
}

static size_t direct_workspace(const convcl_context *ctx, const convcl_problem *p) {
  (void)ctx;
  return table_bytes(p);
}

const convcl_solver convcl_cpu_direct = {
    .algo = CONVCL_ALGO_DIRECT,
    .applicable = direct_applicable,
    .workspace = direct_workspace,
    .create = direct_create,
    .run = direct_run,
    .destroy = direct_destroy,
};
