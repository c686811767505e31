/* Plans: validate once, choose a solver, let it prepare; then run many times. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const algo_names[CONVCL_ALGO_COUNT] = {
    "auto", "direct",       "implicit_gemm", "depthwise", "transposed_gemm",
    "gemm", "winograd_2x2", "winograd_4x4"};

const char *convcl_algo_name(convcl_algo algo) {
  return algo >= 0 && algo < CONVCL_ALGO_COUNT ? algo_names[algo] : "unknown";
}

convcl_status convcl_algo_from_name(const char *name, convcl_algo *algo) {
  if (!name || !algo)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_algo_from_name: NULL argument");
  char known[256] = "";
  for (int i = 0; i < CONVCL_ALGO_COUNT; i++) {
    if (strcmp(name, algo_names[i]) == 0) {
      *algo = (convcl_algo)i;
      return CONVCL_OK;
    }
    strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
    strncat(known, algo_names[i], sizeof known - strlen(known) - 1);
  }
  return convcl_error(CONVCL_ERROR_INVALID_VALUE, "unknown algorithm '%s': expected one of %s",
                      name, known);
}

/* The index of the first solver at or after from that may run p, or the solver count:
 * AUTO takes them in the backend's order of preference, a named algorithm only its own. */
static size_t next_solver(const convcl_context *ctx, const convcl_problem *p, convcl_algo algo,
                          size_t from) {
  const convcl_backend *b = ctx->backend;
  for (; from < b->solver_count; from++) {
    const convcl_solver *s = b->solvers[from];
    if ((algo == CONVCL_ALGO_AUTO || s->algo == algo) && s->applicable(ctx, p)) break;
  }
  return from;
}

static convcl_status choose(const convcl_context *ctx, const convcl_problem *p, convcl_algo algo,
                            size_t *index) {
  if (algo < 0 || algo >= CONVCL_ALGO_COUNT)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE, "unknown algorithm value %d", (int)algo);
  *index = next_solver(ctx, p, algo, 0);
  if (*index < ctx->backend->solver_count) return CONVCL_OK;
  return convcl_error(
      CONVCL_ERROR_ALGO_NOT_APPLICABLE, "algorithm '%s' cannot run this %dD %s on device %s (%s)",
      convcl_algo_name(algo), p->rank, p->transposed ? "transposed convolution" : "convolution",
      ctx->device.id, ctx->device.name);
}

convcl_status convcl_plan_query(convcl_context *ctx, const convcl_conv_desc *desc,
                                const convcl_shape *input, convcl_algo algo, convcl_algo *chosen,
                                size_t *workspace_bytes) {
  if (!ctx || !chosen)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_plan_query: %s is NULL",
                        ctx ? "chosen" : "ctx");
  convcl_problem p;
  size_t index;
  convcl_status st = convcl_problem_init(&p, desc, input);
  if (st == CONVCL_OK) st = choose(ctx, &p, algo, &index);
  if (st != CONVCL_OK) return st;
  const convcl_solver *s = ctx->backend->solvers[index];
  convcl_algo tuned;
  /* With tuning, report what a plan would use: the recorded winner, when there is one. */
  if (ctx->tune && algo == CONVCL_ALGO_AUTO && convcl_tune_lookup(ctx, &p, &tuned) &&
      (index = next_solver(ctx, &p, tuned, 0)) < ctx->backend->solver_count)
    s = ctx->backend->solvers[index];
  *chosen = s->algo;
  if (workspace_bytes) *workspace_bytes = s->workspace ? s->workspace(ctx, &p) : 0;
  convcl_error_clear();
  return CONVCL_OK;
}

convcl_status convcl_plan_make(convcl_context *ctx, const convcl_problem *p, const float *weights,
                               const float *bias, convcl_algo algo, int variant,
                               convcl_plan **plan_out) {
  /* Tensors this large cannot exist on the device, so the plan could never run (a query
   * still says which solver would take the problem). */
  const uint64_t limit = ctx->device.max_alloc_bytes;
  const uint64_t in_bytes = (uint64_t)p->input_elems * sizeof(float),
                 out_bytes = (uint64_t)p->output_elems * sizeof(float);
  if (limit && (in_bytes > limit || out_bytes > limit))
    return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY,
                        "the %s needs %llu bytes, more than the %llu bytes device %s (%s) can "
                        "allocate at once",
                        in_bytes > limit ? "input" : "output",
                        (unsigned long long)(in_bytes > limit ? in_bytes : out_bytes),
                        (unsigned long long)limit, ctx->device.id, ctx->device.name);
  size_t index;
  convcl_status st = choose(ctx, p, algo, &index);
  if (st != CONVCL_OK) return st;
  if (variant >= 0) {
    const convcl_solver *s = ctx->backend->solvers[index];
    const int count = s->variant_count > 0 ? s->variant_count : 1;
    if (algo == CONVCL_ALGO_AUTO || variant >= count)
      return convcl_error(CONVCL_ERROR_ALGO_NOT_APPLICABLE,
                          "algorithm '%s' has %d tile variants on device %s, not variant %d",
                          convcl_algo_name(algo), count, ctx->device.id, variant);
  }
  convcl_plan *plan = calloc(1, sizeof *plan);
  if (!plan) return convcl_error(CONVCL_ERROR_OUT_OF_MEMORY, "cannot allocate a plan");
  plan->ctx = ctx;
  plan->problem = *p;
  /* A solver whose kernels do not build on this device leaves AUTO to the next one;
   * the generic direct solver comes last, and its kernels built when the device opened. */
  for (;;) {
    const convcl_solver *s = ctx->backend->solvers[index];
    plan->solver = s;
    plan->impl = NULL;
    plan->variant = s->variant_count > 0 ? variant : -1;
    plan->workspace_bytes = s->workspace ? s->workspace(ctx, p) : 0;
    st = s->create(plan, weights, bias);
    if (st != CONVCL_ERROR_BUILD_FAILED || algo != CONVCL_ALGO_AUTO) break;
    index = next_solver(ctx, p, algo, index + 1);
    if (index == ctx->backend->solver_count) break;
  }
  if (st != CONVCL_OK) {
    free(plan);
    return st;
  }
  *plan_out = plan;
  convcl_error_clear();
  return CONVCL_OK;
}

/* Validates the arguments, then makes the plan: measured when tuning chooses for AUTO,
 * variant -1 (the solver picks its tile variant) or a given one. */
static convcl_status plan_create(convcl_context *ctx, const convcl_conv_desc *desc,
                                 const convcl_shape *input, const float *weights, const float *bias,
                                 convcl_algo algo, int variant, convcl_plan **plan_out) {
  if (!plan_out) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the plan output pointer is NULL");
  if (!ctx) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the context is NULL");
  if (!weights) return convcl_error(CONVCL_ERROR_NULL_POINTER, "the weights pointer is NULL");
  convcl_problem p;
  convcl_status st = convcl_problem_init(&p, desc, input);
  if (st != CONVCL_OK) return st;
  if (p.has_bias && !bias)
    return convcl_error(CONVCL_ERROR_NULL_POINTER,
                        "the descriptor has a bias (has_bias=1) but the bias pointer is NULL");
  if (!p.has_bias && bias)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "a bias was given but the descriptor has none (has_bias=0)");
  if (ctx->tune && algo == CONVCL_ALGO_AUTO && variant < 0)
    return convcl_tune_plan(ctx, &p, weights, bias, plan_out);
  return convcl_plan_make(ctx, &p, weights, bias, algo, variant, plan_out);
}

convcl_status convcl_plan_create(convcl_context *ctx, const convcl_conv_desc *desc,
                                 const convcl_shape *input, const float *weights, const float *bias,
                                 convcl_algo algo, convcl_plan **plan_out) {
  return plan_create(ctx, desc, input, weights, bias, algo, -1, plan_out);
}

convcl_status convcl_plan_create_variant(convcl_context *ctx, const convcl_conv_desc *desc,
                                         const convcl_shape *input, const float *weights,
                                         const float *bias, convcl_algo algo, int variant,
                                         convcl_plan **plan_out) {
  if (variant < 0)
    return convcl_error(CONVCL_ERROR_INVALID_VALUE, "tile variant %d is negative", variant);
  return plan_create(ctx, desc, input, weights, bias, algo, variant, plan_out);
}

convcl_status convcl_plan_run(convcl_plan *plan, const float *input, float *output) {
  if (!plan || !input || !output)
    return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_plan_run: %s is NULL",
                        !plan    ? "plan"
                        : !input ? "input"
                                 : "output");
  convcl_status st = plan->solver->run ? plan->solver->run(plan, input, output)
                                       : plan->ctx->backend->run_host(plan, input, output);
  if (st == CONVCL_OK) convcl_error_clear();
  return st;
}

/* Whether two tensors share memory: the same one, or wraps of one app buffer whose
 * byte ranges meet. */
static int overlap(const convcl_tensor *a, const convcl_tensor *b) {
  if (a == b) return 1;
  if (!a->app_buffer || a->app_buffer != b->app_buffer) return 0;
  const size_t a_end = a->app_offset + (size_t)a->elems * sizeof(float),
               b_end = b->app_offset + (size_t)b->elems * sizeof(float);
  return a->app_offset < b_end && b->app_offset < a_end;
}

convcl_status convcl_plan_enqueue(convcl_plan *plan, const convcl_tensor *input,
                                  convcl_tensor *output) {
  if (!plan) return convcl_error(CONVCL_ERROR_NULL_POINTER, "convcl_plan_enqueue: plan is NULL");
  convcl_status st = convcl_tensor_check(input, plan->ctx, &plan->problem.input_shape, "input");
  if (st == CONVCL_OK)
    st = convcl_tensor_check(output, plan->ctx, &plan->problem.output_shape, "output");
  if (st != CONVCL_OK) return st;
  if (overlap(input, output))
    return convcl_error(CONVCL_ERROR_INVALID_VALUE,
                        "the input and output tensors share memory: a convolution cannot run in "
                        "place");
  st = plan->solver->enqueue ? plan->solver->enqueue(plan, input, output)
                             : plan->solver->run(plan, input->host, output->host);
  if (st == CONVCL_OK) convcl_error_clear();
  return st;
}

void convcl_plan_destroy(convcl_plan *plan) {
  if (!plan) return;
  if (plan->solver->destroy) plan->solver->destroy(plan);
  convcl_tensor_destroy(plan->stage[0]);
  convcl_tensor_destroy(plan->stage[1]);
  free(plan);
}

convcl_algo convcl_plan_algo(const convcl_plan *plan) {
  return plan ? plan->solver->algo : CONVCL_ALGO_AUTO;
}

size_t convcl_plan_workspace_size(const convcl_plan *plan) {
  return plan ? plan->workspace_bytes : 0;
}

void convcl_plan_output_shape(const convcl_plan *plan, convcl_shape *output) {
  if (plan && output) *output = plan->problem.output_shape;
}
