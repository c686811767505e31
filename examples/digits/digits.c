/* The seed tutorial's conv net, end to end: an all-convolutional classifier for
 * sklearn's 8x8 digits, trained by train.py in PyTorch, run here on device tensors on
 * every available device (or the one named), and checked against PyTorch's logits.
 *
 *   digits DATA_DIR [DEVICE]
 *
 * Exits 0 when on every device the logits match PyTorch's within the tolerance below and
 * every prediction equals PyTorch's; 1 otherwise, or on any error. */
#include <convcl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

#define LAYERS 4
#define CLASSES 10

/* Each logit may differ from PyTorch's by TOL_REL * max(1, max |logit|). Both sides
 * compute in float32 but sum in different orders (and Winograd, should AUTO take it,
 * rounds in its transforms, about 1e-5 of the largest output): measured differences
 * stay below 1e-6 relative, so 1e-4 leaves headroom yet catches real faults (dropping
 * conv3's bias moves a logit by 0.23, 40 times the bound). train.py refuses to export a
 * model whose top two logits are ever within twice this, so argmax equality is a fair
 * demand. */
#define TOL_REL 1e-4

/* Conv2d(in, out, kernel, stride, padding), ReLU fused after the first three. */
static const struct layer_spec {
  int64_t in, out, kernel, stride, pad;
  int relu;
} layer_specs[LAYERS] = {
    {1, 16, 3, 1, 1, 1},
    {16, 32, 3, 2, 1, 1},
    {32, 32, 3, 2, 1, 1},
    {32, CLASSES, 2, 1, 0, 0},
};

typedef struct model {
  convcl_conv_desc desc[LAYERS];
  float *weight[LAYERS], *bias[LAYERS];
  convcl_shape images_shape;
  float *images, *labels, *logits;
  int64_t n;
  float accuracy;
} model;

static int load(const char *dir, const char *name, convcl_shape *shape, float **data) {
  char path[4096], err[512];
  snprintf(path, sizeof path, "%s/%s.npy", dir, name);
  if (npy_read(path, shape, data, err, sizeof err) != 0) {
    fprintf(stderr, "digits: %s\n", err);
    return -1;
  }
  return 0;
}

static int same_shape(const convcl_shape *a, const convcl_shape *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

static void shape_str(const convcl_shape *s, char *buf, size_t cap) {
  size_t len = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < s->ndim && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, i ? ", %lld" : "%lld", (long long)s->dims[i]);
  if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* Loads the model and the test split, checking every shape before anything runs. */
static int model_load(const char *dir, model *m) {
  convcl_shape shape, want;
  char got_s[96], want_s[96];
  for (int l = 0; l < LAYERS; l++) {
    const struct layer_spec *s = &layer_specs[l];
    const int64_t kernel[2] = {s->kernel, s->kernel};
    convcl_conv_desc *d = &m->desc[l];
    convcl_conv_desc_init(d, 2, 0, s->in, s->out, kernel);
    d->stride[0] = d->stride[1] = s->stride;
    d->pad_begin[0] = d->pad_end[0] = d->pad_begin[1] = d->pad_end[1] = s->pad;
    d->activation = s->relu ? CONVCL_ACTIVATION_RELU : CONVCL_ACTIVATION_NONE;

    char name[32];
    snprintf(name, sizeof name, "conv%d_weight", l + 1);
    if (load(dir, name, &shape, &m->weight[l]) != 0) return -1;
    if (convcl_conv_weight_shape(d, &want) != CONVCL_OK) {
      fprintf(stderr, "digits: conv%d: %s\n", l + 1, convcl_last_error());
      return -1;
    }
    if (!same_shape(&shape, &want)) {
      shape_str(&shape, got_s, sizeof got_s);
      shape_str(&want, want_s, sizeof want_s);
      fprintf(stderr, "digits: %s/%s.npy has shape %s, the layer needs %s\n", dir, name, got_s,
              want_s);
      return -1;
    }
    snprintf(name, sizeof name, "conv%d_bias", l + 1);
    if (load(dir, name, &shape, &m->bias[l]) != 0) return -1;
    if (shape.ndim != 1 || shape.dims[0] != s->out) {
      shape_str(&shape, got_s, sizeof got_s);
      fprintf(stderr, "digits: %s/%s.npy has shape %s, the layer needs [%lld]\n", dir, name, got_s,
              (long long)s->out);
      return -1;
    }
  }

  if (load(dir, "test_images", &m->images_shape, &m->images) != 0) return -1;
  const convcl_shape *is = &m->images_shape;
  if (is->ndim != 4 || is->dims[0] < 1 || is->dims[1] != 1 || is->dims[2] != 8 ||
      is->dims[3] != 8) {
    shape_str(is, got_s, sizeof got_s);
    fprintf(stderr, "digits: %s/test_images.npy has shape %s, expected [N, 1, 8, 8]\n", dir, got_s);
    return -1;
  }
  m->n = is->dims[0];
  if (load(dir, "test_labels", &shape, &m->labels) != 0) return -1;
  if (shape.ndim != 1 || shape.dims[0] != m->n) {
    shape_str(&shape, got_s, sizeof got_s);
    fprintf(stderr, "digits: %s/test_labels.npy has shape %s, expected [%lld]\n", dir, got_s,
            (long long)m->n);
    return -1;
  }
  if (load(dir, "logits", &shape, &m->logits) != 0) return -1;
  if (shape.ndim != 2 || shape.dims[0] != m->n || shape.dims[1] != CLASSES) {
    shape_str(&shape, got_s, sizeof got_s);
    fprintf(stderr, "digits: %s/logits.npy has shape %s, expected [%lld, %d]\n", dir, got_s,
            (long long)m->n, CLASSES);
    return -1;
  }
  float *acc = NULL;
  if (load(dir, "accuracy", &shape, &acc) != 0) return -1;
  if (shape.ndim != 1 || shape.dims[0] != 1) {
    fprintf(stderr, "digits: %s/accuracy.npy does not hold one value\n", dir);
    free(acc);
    return -1;
  }
  m->accuracy = acc[0];
  free(acc);
  return 0;
}

static void model_free(model *m) {
  for (int l = 0; l < LAYERS; l++) {
    free(m->weight[l]);
    free(m->bias[l]);
  }
  free(m->images);
  free(m->labels);
  free(m->logits);
}

static int argmax(const float *row) {
  int best = 0;
  for (int c = 1; c < CLASSES; c++)
    if (row[c] > row[best]) best = c;
  return best;
}

/* PyTorch's repr of the layer, so the listing reads like print(model). */
static void layer_str(const struct layer_spec *s, char *buf, size_t cap) {
  int len = snprintf(buf, cap, "Conv2d(%lld, %lld, kernel_size=(%lld, %lld), stride=(%lld, %lld)",
                     (long long)s->in, (long long)s->out, (long long)s->kernel,
                     (long long)s->kernel, (long long)s->stride, (long long)s->stride);
  if (s->pad != 0 && len > 0 && (size_t)len < cap)
    len += snprintf(buf + len, cap - (size_t)len, ", padding=(%lld, %lld)", (long long)s->pad,
                    (long long)s->pad);
  if (len > 0 && (size_t)len < cap)
    snprintf(buf + len, cap - (size_t)len, ")%s", s->relu ? " + ReLU" : "");
}

/* Runs the test split through the net on one device and checks it; 0 when it passes. */
static int run_device(const model *m, const char *device) {
  convcl_context *ctx = NULL;
  convcl_plan *plan[LAYERS] = {NULL};
  convcl_tensor *t[LAYERS + 1] = {NULL};
  float *out = NULL;
  int rc = 1;
  convcl_status st;
  const char *doing = "opening the device";

  st = convcl_context_create(device, &ctx);
  if (st != CONVCL_OK) goto cleanup;
  convcl_device_info info;
  doing = "describing the device";
  st = convcl_context_device(ctx, &info);
  if (st != CONVCL_OK) goto cleanup;
  printf("== %s: %s%s%s\n", info.id, info.name, info.platform[0] ? ", " : "", info.platform);

  convcl_shape shape[LAYERS + 1];
  shape[0] = m->images_shape;
  int64_t total_params = 0;
  char what[160], shape_s[96];
  for (int l = 0; l < LAYERS; l++) {
    int64_t params;
    snprintf(what, sizeof what, "conv%d: describing it", l + 1);
    doing = what;
    st = convcl_conv_output_shape(&m->desc[l], &shape[l], &shape[l + 1]);
    if (st != CONVCL_OK) goto cleanup;
    st = convcl_conv_param_count(&m->desc[l], &params);
    if (st != CONVCL_OK) goto cleanup;
    snprintf(what, sizeof what, "conv%d: creating its plan", l + 1);
    st = convcl_plan_create(ctx, &m->desc[l], &shape[l], m->weight[l], m->bias[l], CONVCL_ALGO_AUTO,
                            &plan[l]);
    if (st != CONVCL_OK) goto cleanup;
    total_params += params;
    layer_str(&layer_specs[l], what, sizeof what);
    shape_str(&shape[l + 1], shape_s, sizeof shape_s);
    printf("conv%d  %-74s out %-16s params %6lld  algo %s\n", l + 1, what, shape_s,
           (long long)params, convcl_algo_name(convcl_plan_algo(plan[l])));
  }
  printf("total params %lld\n", (long long)total_params);

  for (int i = 0; i <= LAYERS; i++) {
    snprintf(what, sizeof what, "creating tensor %d", i);
    doing = what;
    st = convcl_tensor_create(ctx, &shape[i], &t[i]);
    if (st != CONVCL_OK) goto cleanup;
  }
  doing = "uploading the images";
  st = convcl_tensor_upload(t[0], m->images);
  if (st != CONVCL_OK) goto cleanup;
  /* Activations stay in the context's memory between layers: no host transfer until
   * the logits are downloaded. */
  for (int l = 0; l < LAYERS; l++) {
    snprintf(what, sizeof what, "conv%d: enqueuing it", l + 1);
    doing = what;
    st = convcl_plan_enqueue(plan[l], t[l], t[l + 1]);
    if (st != CONVCL_OK) goto cleanup;
  }
  out = malloc((size_t)m->n * CLASSES * sizeof *out);
  if (out == NULL) {
    fprintf(stderr, "digits: out of memory for %lld logits\n", (long long)m->n * CLASSES);
    goto cleanup;
  }
  doing = "running the net and downloading the logits";
  st = convcl_tensor_download(t[LAYERS], out);
  if (st != CONVCL_OK) goto cleanup;

  double max_ref = 0.0, max_diff = 0.0;
  int64_t correct = 0, disagree = 0, worst = 0;
  for (int64_t i = 0; i < m->n * CLASSES; i++) {
    double d = fabs((double)out[i] - (double)m->logits[i]);
    if (!(d <= max_diff)) { /* NaN counts as the worst */
      max_diff = d;
      worst = i;
    }
    if (fabs((double)m->logits[i]) > max_ref) max_ref = fabs((double)m->logits[i]);
  }
  for (int64_t i = 0; i < m->n; i++) {
    int p = argmax(out + i * CLASSES);
    if (p != argmax(m->logits + i * CLASSES)) disagree++;
    if ((float)p == m->labels[i]) correct++;
  }
  const double tol = TOL_REL * (max_ref > 1.0 ? max_ref : 1.0);
  const double accuracy = (double)correct / (double)m->n;
  printf("accuracy %.4f (%lld/%lld), PyTorch %.4f\n", accuracy, (long long)correct, (long long)m->n,
         (double)m->accuracy);
  printf(
      "logits vs PyTorch: max abs diff %.3g (image %lld, class %lld), tolerance %.3g "
      "= %g * max(1, max |logit| = %.3f)\n",
      max_diff, (long long)(worst / CLASSES), (long long)(worst % CLASSES), tol, TOL_REL, max_ref);
  printf("predictions differing from PyTorch: %lld\n", (long long)disagree);
  if (!(max_diff <= tol) || disagree != 0) {
    printf("FAIL on %s\n", info.id);
  } else {
    printf("PASS on %s\n", info.id);
    rc = 0;
  }

cleanup:
  if (st != CONVCL_OK)
    fprintf(stderr, "digits: %s: %s: %s: %s\n", device, doing, convcl_status_string(st),
            convcl_last_error());
  free(out);
  for (int i = 0; i <= LAYERS; i++) convcl_tensor_destroy(t[i]);
  for (int l = 0; l < LAYERS; l++) convcl_plan_destroy(plan[l]);
  convcl_context_destroy(ctx);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr,
            "usage: %s DATA_DIR [DEVICE]\n"
            "  runs the digits net on every available device, or on DEVICE (cpu, opencl:P:D,\n"
            "  auto), and checks its logits against PyTorch's (train.py writes DATA_DIR)\n",
            argv[0]);
    return 2;
  }
  model m;
  memset(&m, 0, sizeof m);
  int rc = 1;
  convcl_device_info *infos = NULL;
  if (model_load(argv[1], &m) != 0) goto done;
  printf("%lld test images from %s\n", (long long)m.n, argv[1]);

  if (argc == 3) {
    rc = run_device(&m, argv[2]);
    goto done;
  }
  int count = 0, capacity = 0;
  convcl_status st = convcl_devices_list(NULL, 0, &capacity);
  if (st == CONVCL_OK && capacity > 0) {
    infos = calloc((size_t)capacity, sizeof *infos);
    if (infos == NULL) {
      fprintf(stderr, "digits: out of memory listing %d devices\n", capacity);
      goto done;
    }
    st = convcl_devices_list(infos, capacity, &count);
    if (count > capacity) count = capacity; /* a device appeared in between */
  }
  if (st != CONVCL_OK) {
    fprintf(stderr, "digits: cannot list devices: %s: %s\n", convcl_status_string(st),
            convcl_last_error());
    goto done;
  }
  int failed = 0;
  for (int i = 0; i < count; i++) failed += run_device(&m, infos[i].id) != 0;
  printf("%d of %d devices passed\n", count - failed, count);
  rc = failed != 0;

done:
  free(infos);
  model_free(&m);
  return rc;
}
