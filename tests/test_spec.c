/* Unit tests of the CLI's SPEC and shape parsers and of .npy reading and writing. */
#include "npy.h"
#include "spec.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *what, const char *file, int line) {
  if (ok) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
  }
}

#define CHECK(cond) check((cond) != 0, #cond, __FILE__, __LINE__)

/* ---- SPEC ---------------------------------------------------------------------- */

static int parses(const char *text, convcl_conv_desc *d) {
  char err[512];
  if (spec_parse(text, d, err, sizeof err) == 0) return 1;
  fprintf(stderr, "  spec_parse(\"%s\") failed: %s\n", text, err);
  return 0;
}

/* The parse fails and its message contains want. */
static int parse_fails_with(const char *text, const char *want) {
  char err[512];
  convcl_conv_desc d;
  if (spec_parse(text, &d, err, sizeof err) == 0) {
    fprintf(stderr, "  spec_parse(\"%.80s\") unexpectedly succeeded\n", text);
    return 0;
  }
  if (strstr(err, want) == NULL) {
    fprintf(stderr, "  spec_parse(\"%.80s\"): message \"%s\" lacks \"%s\"\n", text, err, want);
    return 0;
  }
  return 1;
}

#define CHECK_SPEC_ERROR(text, want) check(parse_fails_with(text, want), text, __FILE__, __LINE__)

static int dims_are(const int64_t *v, int n, int64_t a, int64_t b, int64_t c) {
  const int64_t want[3] = {a, b, c};
  for (int i = 0; i < n; i++)
    if (v[i] != want[i]) return 0;
  return 1;
}

static void test_constructor_calls(void) {
  convcl_conv_desc d;
  CHECK(parses("nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1, bias=True, padding_mode='zeros')",
               &d));
  CHECK(d.spatial_dims == 2 && d.transposed == 0);
  CHECK(d.in_channels == 3 && d.out_channels == 8 && d.groups == 1);
  CHECK(dims_are(d.kernel, 2, 3, 3, 0) && dims_are(d.stride, 2, 2, 2, 0));
  CHECK(d.padding == CONVCL_PAD_EXPLICIT && dims_are(d.pad_begin, 2, 1, 1, 0) &&
        dims_are(d.pad_end, 2, 1, 1, 0));
  CHECK(dims_are(d.dilation, 2, 1, 1, 0));
  CHECK(d.has_bias == 1 && d.padding_mode == CONVCL_PADDING_ZEROS);

  /* PyTorch's defaults, with every accepted module path. */
  const char *paths[] = {"Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3)", "torch.nn.Conv2d(3, 8, 3)",
                         "torch.nn.modules.conv.Conv2d(3, 8, 3)"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    CHECK(parses(paths[i], &d));
    CHECK(d.spatial_dims == 2 && d.in_channels == 3 && d.out_channels == 8);
    CHECK(dims_are(d.stride, 2, 1, 1, 0) && dims_are(d.pad_begin, 2, 0, 0, 0));
    CHECK(d.padding == CONVCL_PAD_EXPLICIT && d.groups == 1 && d.has_bias == 1);
  }

  CHECK(parses("nn.Conv2d(in_channels=1,out_channels=32,kernel_size=5,stride=1,padding=2)", &d));
  CHECK(d.in_channels == 1 && d.out_channels == 32 && dims_are(d.kernel, 2, 5, 5, 0));
  CHECK(dims_are(d.pad_begin, 2, 2, 2, 0) && dims_are(d.pad_end, 2, 2, 2, 0));

  CHECK(parses("torch.nn.ConvTranspose3d(4, 4, (3, 3, 3), output_padding=1)", &d));
  CHECK(d.spatial_dims == 3 && d.transposed == 1 && dims_are(d.output_padding, 3, 1, 1, 1));
}

static void test_reprs(void) {
  convcl_conv_desc d;
  CHECK(parses("Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))", &d));
  CHECK(d.spatial_dims == 2 && d.in_channels == 1 && d.out_channels == 32);
  CHECK(dims_are(d.kernel, 2, 5, 5, 0) && dims_are(d.pad_begin, 2, 2, 2, 0));

  CHECK(
      parses("Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=same, groups=2, "
             "padding_mode=reflect)",
             &d));
  CHECK(d.spatial_dims == 1 && d.kernel[0] == 3 && d.stride[0] == 1);
  CHECK(d.padding == CONVCL_PAD_SAME && d.groups == 2);
  CHECK(d.padding_mode == CONVCL_PADDING_REFLECT);

  CHECK(
      parses("ConvTranspose2d(16, 33, kernel_size=(3, 5), stride=(2, 1), padding=(4, 2), "
             "dilation=(2, 1), output_padding=(1, 0), bias=False)",
             &d));
  CHECK(d.spatial_dims == 2 && d.transposed == 1 && d.in_channels == 16 && d.out_channels == 33);
  CHECK(dims_are(d.kernel, 2, 3, 5, 0) && dims_are(d.stride, 2, 2, 1, 0));
  CHECK(dims_are(d.pad_begin, 2, 4, 2, 0) && dims_are(d.pad_end, 2, 4, 2, 0));
  CHECK(dims_are(d.dilation, 2, 2, 1, 0) && dims_are(d.output_padding, 2, 1, 0, 0));
  CHECK(d.has_bias == 0);
}

static void test_positional_orders(void) {
  convcl_conv_desc d;
  /* Conv: in, out, kernel, stride, padding, dilation, groups, bias, padding_mode. */
  CHECK(
      parses("Conv3d(4, 8, (1, 2, 3), (2, 1, 1), (0, 1, 2), (1, 1, 2), 2, False, 'circular')", &d));
  CHECK(dims_are(d.kernel, 3, 1, 2, 3) && dims_are(d.stride, 3, 2, 1, 1));
  CHECK(dims_are(d.pad_begin, 3, 0, 1, 2) && dims_are(d.dilation, 3, 1, 1, 2));
  CHECK(d.groups == 2 && d.has_bias == 0 && d.padding_mode == CONVCL_PADDING_CIRCULAR);
  CHECK(parses("Conv2d(3, 8, 3, 1, 0, 1, 1, True, 'zeros', None, None)", &d));

  /* ConvTranspose: in, out, kernel, stride, padding, output_padding, groups, bias,
   * dilation, padding_mode. */
  CHECK(parses("ConvTranspose1d(4, 8, 3, 2, 1, 1, 2, False, 3, 'zeros')", &d));
  CHECK(d.transposed == 1 && d.stride[0] == 2 && d.pad_begin[0] == 1);
  CHECK(d.output_padding[0] == 1 && d.groups == 2 && d.has_bias == 0 && d.dilation[0] == 3);
}

static void test_values(void) {
  convcl_conv_desc d;
  CHECK(parses("Conv3d(1, 1, 3, stride=2, dilation=(1, 2, 3))", &d));
  CHECK(dims_are(d.kernel, 3, 3, 3, 3) && dims_are(d.stride, 3, 2, 2, 2));
  CHECK(dims_are(d.dilation, 3, 1, 2, 3));

  CHECK(parses("Conv2d(3, 8, [3, 5])", &d) && dims_are(d.kernel, 2, 3, 5, 0));
  CHECK(parses("Conv2d(3, 8, (3))", &d) && dims_are(d.kernel, 2, 3, 3, 0)); /* (3) is an int */
  CHECK(parses("Conv1d(3, 8, [3,])", &d) && d.kernel[0] == 3);

  CHECK(parses("Conv2d(3, 8, 3, padding='valid')", &d) && d.padding == CONVCL_PAD_VALID);
  CHECK(parses("Conv2d(3, 8, 3, padding=valid)", &d) && d.padding == CONVCL_PAD_VALID);
  CHECK(parses("Conv2d(3, 8, 3, padding=\"same\")", &d) && d.padding == CONVCL_PAD_SAME);
  CHECK(parses("Conv2d(3, 8, 3, padding_mode=\"replicate\")", &d) &&
        d.padding_mode == CONVCL_PADDING_REPLICATE);
  CHECK(parses("Conv2d(3, 8, 3, padding_mode=circular)", &d) &&
        d.padding_mode == CONVCL_PADDING_CIRCULAR);

  CHECK(parses("  nn . Conv2d ( 3 ,8, kernel_size = ( 3 ,\n 3 ) , bias = False , )  \n", &d));
  CHECK(d.in_channels == 3 && dims_are(d.kernel, 2, 3, 3, 0) && d.has_bias == 0);
  CHECK(parses("\tConv2d(3,8,3,padding=-  1)", &d) && d.pad_begin[0] == -1);

  CHECK(parses("Conv2d(3, 8, 3, device=None, dtype=None)", &d));
  CHECK(parses("Conv2d(3, 8, 3, dtype=torch.float32, device='cuda:0')", &d));
  CHECK(parses("Conv2d(3, 8, 3, dtype=torch.float)", &d));

  /* Values the library judges, not the parser. */
  CHECK(parses("Conv2d(3, 8, 3, stride=-1, groups=0)", &d) && d.stride[0] == -1 && d.groups == 0);
  CHECK(parses("Conv2d(-3, 8, 0)", &d) && d.in_channels == -3 && d.kernel[1] == 0);
  CHECK(parses("ConvTranspose2d(3, 8, 3, padding_mode='reflect')", &d) &&
        d.padding_mode == CONVCL_PADDING_REFLECT);
  CHECK(parses("Conv1d(9223372036854775807, 1, -9223372036854775808)", &d));
  CHECK(d.in_channels == INT64_MAX && d.kernel[0] == INT64_MIN);

  /* A failed parse leaves the descriptor as it was. */
  char err[64];
  d.in_channels = 77;
  CHECK(spec_parse("Conv2d(3, 8, 3, foo=1)", &d, err, sizeof err) != 0 && d.in_channels == 77);
}

static void test_activation(void) {
  convcl_conv_desc d;
  CHECK(parses("nn.Conv2d(3, 8, 3)", &d) && d.activation == CONVCL_ACTIVATION_NONE);
  const char *relu[] = {"nn.Conv2d(3, 8, 3)+relu", "Conv2d(3, 8, 3) + ReLU",
                        "nn.Conv2d(3, 8, 3)+ReLU()", "nn.Conv2d(3, 8, 3) + nn.ReLU()",
                        "torch.nn.ConvTranspose1d(3, 8, 3)+torch.nn.ReLU()"};
  for (size_t i = 0; i < sizeof relu / sizeof relu[0]; i++)
    CHECK(parses(relu[i], &d) && d.activation == CONVCL_ACTIVATION_RELU && d.out_channels == 8);
  CHECK_SPEC_ERROR("nn.Conv2d(3, 8, 3)+gelu", "unknown activation 'gelu' after '+'");
  CHECK_SPEC_ERROR("nn.Conv2d(3, 8, 3)+", "expected an activation (relu) after '+'");
  CHECK_SPEC_ERROR("nn.Conv2d(3, 8, 3)+ReLU(inplace=True)", "ReLU() takes no arguments here");
  CHECK_SPEC_ERROR("nn.Conv2d(3, 8, 3)+relu+relu", "unexpected text after the closing ')'");
}

static void test_spec_errors(void) {
  CHECK_SPEC_ERROR("Conv4d(1, 1, 1)", "unknown layer 'Conv4d'");
  CHECK_SPEC_ERROR("nn.Linear(3, 4)", "unknown layer 'nn.Linear'");
  CHECK_SPEC_ERROR("tf.Conv2d(1, 1, 1)", "unknown module path 'tf.Conv2d'");
  CHECK_SPEC_ERROR("conv2d(1, 1, 1)", "unknown layer");

  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, foo=1)", "Conv2d got an unexpected keyword argument 'foo'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, output_padding=1)",
                   "unexpected keyword argument 'output_padding'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, 2, stride=2)",
                   "Conv2d got multiple values for argument 'stride'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, stride=1, stride=2)", "multiple values for argument 'stride'");
  CHECK_SPEC_ERROR("Conv2d(3, 8)", "missing 1 required positional argument: 'kernel_size'");
  CHECK_SPEC_ERROR("Conv2d(in_channels=3)",
                   "missing 2 required positional arguments: 'out_channels' and 'kernel_size'");
  CHECK_SPEC_ERROR("Conv2d()", "missing 3 required positional arguments");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, 1, 0, 1, 1, True, 'zeros', None, None, 7)",
                   "takes from 3 to 11 positional arguments but 12 were given");
  CHECK_SPEC_ERROR("ConvTranspose2d(3, 8, 3, 1, 0, 0, 1, True, 1, 'zeros', None, None, 7, 8)",
                   "takes from 3 to 12 positional arguments but 14 were given");
  CHECK_SPEC_ERROR("Conv2d(3, out_channels=8, 3)", "positional argument follows keyword argument");

  CHECK_SPEC_ERROR("Conv2d(3, 8, (3, 3, 3))",
                   "kernel_size must be an int or a tuple of 2 ints, but got (3, 3, 3)");
  CHECK_SPEC_ERROR("Conv1d(3, 8, (3, 3))",
                   "kernel_size must be an int or a tuple of 1 int, but got (3, 3)");
  CHECK_SPEC_ERROR("Conv3d(3, 8, 3, stride=(1, 1))", "stride must be an int or a tuple of 3 ints");
  CHECK_SPEC_ERROR("Conv2d(3, 8, ())",
                   "kernel_size must be an int or a tuple of 2 ints, but got ()");
  CHECK_SPEC_ERROR("Conv2d(3, 8, (3, 'a'))", "but got (3, 'a')");
  CHECK_SPEC_ERROR("Conv2d(3, 8, ((1, 2), 3))", "but got ((1, 2), 3)");
  CHECK_SPEC_ERROR("Conv2d(3.0, 8, 3)", "in_channels must be an int, but got 3.0");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, groups=True)", "groups must be an int, but got True");
  CHECK_SPEC_ERROR("Conv2d('3', 8, 3)", "in_channels must be an int, but got '3'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, stride=1.5)",
                   "stride must be an int or a tuple of 2 ints, but got 1.5");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 0x10)", "but got 0x10");

  CHECK_SPEC_ERROR("Conv2d(3, 8, 3) foo", "unexpected text after the closing ')'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3))", "unbalanced parentheses: unexpected ')'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3", "unbalanced parentheses: missing ')'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, (3, 3)", "unbalanced parentheses: missing ')'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, [3, 3)", "expected ',' or ']'");
  CHECK_SPEC_ERROR("Conv2d(3 8 3)", "expected ',' or ')' after an argument, but got '8'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, @)", "expected a value, but got '@'");
  CHECK_SPEC_ERROR("Conv2d(3,,8, 3)", "expected a value, but got ','");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, stride=)", "expected a value, but got ')'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, -)", "expected a number after the sign");
  CHECK_SPEC_ERROR("Conv2d", "expected '(' and arguments after Conv2d");
  CHECK_SPEC_ERROR("Conv2d[3, 8, 3]", "expected '(' after the layer name");
  CHECK_SPEC_ERROR("nn.", "expected a name after '.', but the SPEC ends");
  CHECK_SPEC_ERROR("", "empty SPEC");
  CHECK_SPEC_ERROR("   \n", "empty SPEC");
  CHECK_SPEC_ERROR("(3, 8, 3)", "expected a layer");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, padding='same)", "unterminated string");
  CHECK_SPEC_ERROR("Conv2d(3, 8, \xc3\xa9)", "expected a value, but got '?'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, ((((((((((((((((((((3))))))))))))))))))))", "nest too deeply");

  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, padding='full')",
                   "invalid padding string 'full', should be one of {'valid', 'same'}");
  CHECK_SPEC_ERROR("ConvTranspose2d(3, 8, 3, padding='same')",
                   "ConvTranspose2d takes no string padding");
  CHECK_SPEC_ERROR("ConvTranspose1d(3, 8, 3, padding=valid)", "takes no string padding");
  CHECK_SPEC_ERROR(
      "Conv2d(3, 8, 3, padding_mode='wrap')",
      "padding_mode must be one of {'zeros', 'reflect', 'replicate', 'circular'}, but got "
      "padding_mode='wrap'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, padding_mode=3)", "padding_mode='3'");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, bias=1)", "bias must be True or False, but got 1");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, bias='True')", "bias must be True or False");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, dtype=torch.float16)",
                   "float32 only, but got dtype=torch.float16");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 3, dtype='float32')", "float32 only");

  CHECK_SPEC_ERROR("Conv2d(3, 8, 99999999999999999999)", "does not fit in a 64-bit integer");
  CHECK_SPEC_ERROR("Conv2d(3, 8, 9223372036854775808)", "does not fit in a 64-bit integer");
  CHECK_SPEC_ERROR("Conv2d(3, 8, -9223372036854775809)", "-9223372036854775809");

  /* Long inputs: messages are truncated to the buffer, never overflow it. */
  size_t big = 200000;
  char *text = malloc(big + 64);
  CHECK(text != NULL);
  if (text != NULL) {
    size_t n = (size_t)snprintf(text, 64, "Conv2d(3, 8, (");
    while (n + 8 < big) n += (size_t)snprintf(text + n, 8, "1, ");
    snprintf(text + n, 8, "1))");
    CHECK_SPEC_ERROR(text, "kernel_size must be an int or a tuple of 2 ints");

    n = (size_t)snprintf(text, 64, "Conv2d(3, 8, 3, ");
    memset(text + n, 'k', big - n);
    snprintf(text + big, 8, "=1)");
    CHECK_SPEC_ERROR(text, "Conv2d got an unexpected keyword argument 'kkkk");
    char small[8];
    convcl_conv_desc d;
    CHECK(spec_parse(text, &d, small, sizeof small) != 0 && strlen(small) == sizeof small - 1);
    CHECK(spec_parse(text, &d, NULL, 0) != 0);
    free(text);
  }
  char err[64];
  convcl_conv_desc d;
  CHECK(spec_parse(NULL, &d, err, sizeof err) != 0 && err[0] != '\0');
}

/* ---- Shapes ---------------------------------------------------------------------- */

static int shape_is(const char *text, int ndim, const int64_t *dims) {
  char err[256];
  convcl_shape s;
  if (shape_parse(text, &s, err, sizeof err) != 0) {
    fprintf(stderr, "  shape_parse(\"%s\") failed: %s\n", text, err);
    return 0;
  }
  if (s.ndim != ndim) return 0;
  for (int i = 0; i < ndim; i++)
    if (s.dims[i] != dims[i]) return 0;
  return 1;
}

static int shape_fails_with(const char *text, const char *want) {
  char err[256];
  convcl_shape s;
  if (shape_parse(text, &s, err, sizeof err) == 0) {
    fprintf(stderr, "  shape_parse(\"%s\") unexpectedly succeeded\n", text);
    return 0;
  }
  if (strstr(err, want) == NULL) {
    fprintf(stderr, "  shape_parse(\"%s\"): message \"%s\" lacks \"%s\"\n", text, err, want);
    return 0;
  }
  return 1;
}

#define CHECK_SHAPE_ERROR(text, want) check(shape_fails_with(text, want), text, __FILE__, __LINE__)

static void test_shapes(void) {
  const int64_t nchw[] = {1, 3, 224, 224}, five[] = {1, 2, 3, 4, 5}, one[] = {5};
  CHECK(shape_is("1x3x224x224", 4, nchw));
  CHECK(shape_is("1,3,224,224", 4, nchw));
  CHECK(shape_is("(1, 3, 224, 224)", 4, nchw));
  CHECK(shape_is(" [1,3, 224 ,224] ", 4, nchw));
  CHECK(shape_is("1 X 3 x 224x224", 4, nchw));
  CHECK(shape_is("1x2x3x4x5", 5, five));
  CHECK(shape_is("5", 1, one));
  CHECK(shape_is("(5,)", 1, one));
  CHECK(shape_is("(5, )", 1, one));

  CHECK_SHAPE_ERROR("", "expected a size");
  CHECK_SHAPE_ERROR("()", "expected a size");
  CHECK_SHAPE_ERROR("x", "expected a size");
  CHECK_SHAPE_ERROR("1x", "expected a size at the end");
  CHECK_SHAPE_ERROR("1xx2", "expected a size");
  CHECK_SHAPE_ERROR("1x0x3", "sizes must be positive, but size 2 is 0");
  CHECK_SHAPE_ERROR("-1x3", "sizes must be positive");
  CHECK_SHAPE_ERROR("1x-3", "sizes must be positive");
  CHECK_SHAPE_ERROR("1x2x3x4x5x6", "more than 5 dimensions");
  CHECK_SHAPE_ERROR("99999999999999999999", "does not fit");
  CHECK_SHAPE_ERROR("(1,2", "missing ')'");
  CHECK_SHAPE_ERROR("1,2)", "unexpected ')'");
  CHECK_SHAPE_ERROR("1.5", "unexpected '.5'");
  CHECK_SHAPE_ERROR("1x3a", "expected a size");
  CHECK_SHAPE_ERROR("(1,2) 3", "after ')'");
  CHECK_SHAPE_ERROR("(1,2]", "unexpected ']'");
  CHECK_SHAPE_ERROR("1,2,", "expected a size at the end");
  convcl_shape s;
  CHECK(shape_parse(NULL, &s, NULL, 0) != 0);

  char buf[64];
  convcl_shape t = {4, {1, 32, 28, 28}};
  shape_format(&t, buf, sizeof buf);
  CHECK(strcmp(buf, "1x32x28x28") == 0);
  convcl_shape scalar = {0, {0}};
  shape_format(&scalar, buf, sizeof buf);
  CHECK(strcmp(buf, "()") == 0);
  char tiny[4];
  shape_format(&t, tiny, sizeof tiny);
  CHECK(strlen(tiny) < sizeof tiny);
}

/* ---- .npy ------------------------------------------------------------------------ */

static char tmpdir[256];

static const char *tmp_path(const char *name) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  return path;
}

static int write_bytes(const char *name, const void *data, size_t len) {
  FILE *f = fopen(tmp_path(name), "wb");
  if (f == NULL) return -1;
  size_t n = fwrite(data, 1, len, f);
  return fclose(f) == 0 && n == len ? 0 : -1;
}

/* A .npy file with the given version, header dict and data_len bytes of data. */
static int write_npy(const char *name, int major, const char *dict, size_t data_len) {
  size_t prefix = major == 1 ? 10 : 12, dict_len = strlen(dict);
  size_t header = (prefix + dict_len + 1 + 63) / 64 * 64 - prefix;
  size_t total = prefix + header + data_len;
  unsigned char *buf = calloc(1, total);
  if (buf == NULL) return -1;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major;
  buf[7] = 0;
  buf[8] = (unsigned char)(header & 0xff);
  buf[9] = (unsigned char)(header >> 8);
  memcpy(buf + prefix, dict, dict_len);
  memset(buf + prefix + dict_len, ' ', header - dict_len - 1);
  buf[prefix + header - 1] = '\n';
  for (size_t i = 0; i < data_len; i++) buf[prefix + header + i] = (unsigned char)i;
  int rc = write_bytes(name, buf, total);
  free(buf);
  return rc;
}

static int read_fails_with(const char *name, const char *want) {
  char err[512];
  convcl_shape s;
  float *data = NULL;
  if (npy_read(tmp_path(name), &s, &data, err, sizeof err) == 0) {
    fprintf(stderr, "  npy_read(%s) unexpectedly succeeded\n", name);
    free(data);
    return 0;
  }
  if (data != NULL || strstr(err, want) == NULL) {
    fprintf(stderr, "  npy_read(%s): message \"%s\" lacks \"%s\"\n", name, err, want);
    return 0;
  }
  return 1;
}

#define CHECK_READ_ERROR(name, want) check(read_fails_with(name, want), name, __FILE__, __LINE__)

static int reads_shape(const char *name, int ndim, const int64_t *dims) {
  char err[512];
  convcl_shape s;
  float *data = NULL;
  if (npy_read(tmp_path(name), &s, &data, err, sizeof err) != 0) {
    fprintf(stderr, "  npy_read(%s) failed: %s\n", name, err);
    return 0;
  }
  free(data);
  if (s.ndim != ndim) return 0;
  for (int i = 0; i < ndim; i++)
    if (s.dims[i] != dims[i]) return 0;
  return 1;
}

/* Files in tmpdir whose name contains part. */
static int count_files(const char *part) {
  DIR *dir = opendir(tmpdir);
  int n = 0;
  if (dir == NULL) return -1;
  for (struct dirent *e; (e = readdir(dir)) != NULL;)
    if (strstr(e->d_name, part) != NULL) n++;
  closedir(dir);
  return n;
}

static long file_size(const char *name) {
  FILE *f = fopen(tmp_path(name), "rb");
  if (f == NULL) return -1;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  fclose(f);
  return n;
}

static void test_npy_round_trip(void) {
  char err[512];
  const float values[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, -1e30f};
  convcl_shape shape = {2, {2, 3}}, got;
  float *data = NULL;

  CHECK(npy_write(tmp_path("a.npy"), &shape, values, err, sizeof err) == 0);
  CHECK(file_size("a.npy") == 128 + 24); /* header padded to a multiple of 64, then 6 floats */
  CHECK(npy_read(tmp_path("a.npy"), &got, &data, err, sizeof err) == 0);
  CHECK(got.ndim == 2 && got.dims[0] == 2 && got.dims[1] == 3);
  CHECK(data != NULL && memcmp(data, values, sizeof values) == 0);
  free(data);
  data = NULL;

  /* Byte for byte what numpy writes for this array. */
  char want[128];
  const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  memcpy(want, "\x93NUMPY\x01\x00\x76\x00", 10);
  memset(want + 10, ' ', sizeof want - 10);
  memcpy(want + 10, dict, strlen(dict));
  want[127] = '\n';
  unsigned char head[128] = {0};
  FILE *f = fopen(tmp_path("a.npy"), "rb");
  CHECK(f != NULL && fread(head, 1, sizeof head, f) == sizeof head);
  if (f != NULL) fclose(f);
  CHECK(memcmp(head, want, sizeof want) == 0);

  /* Overwriting replaces the file. */
  convcl_shape one = {1, {4}};
  CHECK(npy_write(tmp_path("a.npy"), &one, values, err, sizeof err) == 0);
  CHECK(npy_read(tmp_path("a.npy"), &got, &data, err, sizeof err) == 0);
  CHECK(got.ndim == 1 && got.dims[0] == 4 && data != NULL && memcmp(data, values, 16) == 0);
  free(data);
  data = NULL;

  convcl_shape scalar = {0, {0}};
  CHECK(npy_write(tmp_path("s.npy"), &scalar, values + 2, err, sizeof err) == 0);
  CHECK(npy_read(tmp_path("s.npy"), &got, &data, err, sizeof err) == 0);
  CHECK(got.ndim == 0 && data != NULL && data[0] == 3.25f);
  free(data);
  data = NULL;

  convcl_shape five = {5, {1, 1, 1, 2, 3}};
  CHECK(npy_write(tmp_path("five.npy"), &five, values, err, sizeof err) == 0);
  CHECK(reads_shape("five.npy", 5, five.dims));

  convcl_shape empty = {2, {0, 3}};
  CHECK(npy_write(tmp_path("empty.npy"), &empty, NULL, err, sizeof err) == 0);
  CHECK(reads_shape("empty.npy", 2, empty.dims));

  /* Failed writes report and leave nothing behind. */
  CHECK(npy_write(tmp_path("missing/x.npy"), &shape, values, err, sizeof err) != 0 &&
        strstr(err, "temporary") != NULL);
  /* The temporary is created beside the target, here inside tmpdir, then removed. */
  CHECK(mkdir(tmp_path("sub"), 0700) == 0);
  CHECK(npy_write(tmp_path("sub"), &shape, values, err, sizeof err) != 0 &&
        strstr(err, "sub") != NULL);
  rmdir(tmp_path("sub"));
  convcl_shape bad = {2, {-1, 3}};
  CHECK(npy_write(tmp_path("bad.npy"), &bad, values, err, sizeof err) != 0);
  convcl_shape huge = {3, {INT64_MAX, INT64_MAX, 2}};
  CHECK(npy_write(tmp_path("bad.npy"), &huge, values, err, sizeof err) != 0);
  CHECK(npy_write(tmp_path("bad.npy"), &shape, NULL, err, sizeof err) != 0);
  CHECK(count_files("bad.npy") == 0);
  CHECK(count_files(".tmp-") == 0);
}

static void test_npy_errors(void) {
  const int64_t d23[] = {2, 3}, d13[] = {1, 3};
  CHECK(write_npy("v2.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24) ==
        0);
  CHECK(reads_shape("v2.npy", 2, d23));
  CHECK(write_npy("v3.npy", 3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,3)}",
                  24) == 0);
  CHECK(reads_shape("v3.npy", 2, d23));
  CHECK(write_npy("native.npy", 1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '=f4'}",
                  24) == 0);
  CHECK(reads_shape("native.npy", 2, d23));
  CHECK(write_npy("long.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
                  24) == 0);
  CHECK(reads_shape("long.npy", 2, d23));
  /* One dim above 1: Fortran and C order are the same bytes. */
  CHECK(write_npy("f13.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 3), }", 12) ==
        0);
  CHECK(reads_shape("f13.npy", 2, d13));

  CHECK_READ_ERROR("nonexistent.npy", "No such file");
  CHECK(write_bytes("magic.npy", "\x93NUMPX\x01\x00\x00\x00", 10) == 0);
  CHECK_READ_ERROR("magic.npy", "not a .npy file");
  CHECK(write_bytes("short.npy", "\x93NU", 3) == 0);
  CHECK_READ_ERROR("short.npy", "not a .npy file");
  CHECK(write_bytes("empty_file.npy", "", 0) == 0);
  CHECK_READ_ERROR("empty_file.npy", "not a .npy file");
  CHECK(write_npy("v4.npy", 4, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24) ==
        0);
  CHECK_READ_ERROR("v4.npy", "version 4.0 is not supported");
  CHECK(write_npy("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 48) ==
        0);
  CHECK_READ_ERROR("f8.npy",
                   "dtype '<f8' is not supported: convcl reads little-endian float32 ('<f4')");
  CHECK(write_npy("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24) ==
        0);
  CHECK_READ_ERROR("be.npy", "dtype '>f4' is not supported");
  CHECK(write_npy("rec.npy", 1,
                  "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8) == 0);
  CHECK_READ_ERROR("rec.npy", "structured dtypes are not supported");
  CHECK(write_npy("fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                  24) == 0);
  CHECK_READ_ERROR("fortran.npy", "fortran_order is True");
  CHECK(write_npy("trunc.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                  20) == 0);
  CHECK_READ_ERROR("trunc.npy",
                   "truncated: the shape needs 24 bytes of data, but the file holds 20");
  CHECK(write_npy("extra.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                  25) == 0);
  CHECK_READ_ERROR("extra.npy", "1 bytes of unexpected data after the array");
  CHECK(write_npy("dims6.npy", 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1), }",
                  4) == 0);
  CHECK_READ_ERROR("dims6.npy", "more than 5 dimensions");
  CHECK(write_npy(
            "huge.npy", 1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
            4) == 0);
  CHECK_READ_ERROR("huge.npy", "too large");
  CHECK(write_npy("big.npy", 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }", 4) == 0);
  CHECK_READ_ERROR("big.npy", "truncated");

  CHECK(write_npy("nodict.npy", 1, "['<f4', False, (2, 3)]", 24) == 0);
  CHECK_READ_ERROR("nodict.npy", "malformed header: no dictionary");
  CHECK(write_npy("noshape.npy", 1, "{'descr': '<f4', 'fortran_order': False}", 24) == 0);
  CHECK_READ_ERROR("noshape.npy", "it needs 'descr', 'fortran_order' and 'shape'");
  CHECK(write_npy("key.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
                  24) == 0);
  CHECK_READ_ERROR("key.npy", "unexpected or repeated key 'x'");
  CHECK(write_npy("dup.npy", 1,
                  "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
                  24) == 0);
  CHECK_READ_ERROR("dup.npy", "unexpected or repeated key 'descr'");
  CHECK(write_npy("neg.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }",
                  24) == 0);
  CHECK_READ_ERROR("neg.npy", "'shape' holds something other than sizes");
  CHECK(write_npy("open.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", 24) ==
        0);
  CHECK_READ_ERROR("open.npy", "malformed header");
  CHECK(write_npy("fo.npy", 1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }", 24) == 0);
  CHECK_READ_ERROR("fo.npy", "'fortran_order' is not True or False");
  CHECK(write_npy("quote.npy", 1, "{'descr: '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                  24) == 0);
  CHECK_READ_ERROR("quote.npy", "malformed header");
  CHECK(write_npy("after.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x",
                  24) == 0);
  CHECK_READ_ERROR("after.npy", "text after the dictionary");
  /* A header length beyond the end of the file. */
  CHECK(write_bytes("hlen.npy", "\x93NUMPY\x01\x00\xff\xff{'descr'", 17) == 0);
  CHECK_READ_ERROR("hlen.npy", "truncated header");
  CHECK(write_bytes("hlen2.npy", "\x93NUMPY\x02\x00\xff\xff\xff\xff", 12) == 0);
  CHECK_READ_ERROR("hlen2.npy", "too large");
  char err[512];
  convcl_shape s;
  float *data = NULL;
  CHECK(npy_read(tmpdir, &s, &data, err, sizeof err) != 0 && strstr(err, "is a directory") != NULL);
  CHECK(data == NULL);
}

/* npy_read_memory on len bytes: 1 when it fails with a message containing want and
 * hands back no data. */
static int memory_fails_with(const void *bytes, size_t len, const char *want) {
  char err[512];
  convcl_shape s;
  float *data = NULL;
  if (npy_read_memory(bytes, len, "mem.npy", &s, &data, err, sizeof err) == 0) {
    fprintf(stderr, "  npy_read_memory(%zu bytes) unexpectedly succeeded\n", len);
    free(data);
    return 0;
  }
  if (data != NULL || strstr(err, want) == NULL || strstr(err, "mem.npy") == NULL) {
    fprintf(stderr, "  npy_read_memory: message \"%s\" lacks \"%s\"\n", err, want);
    return 0;
  }
  return 1;
}

/* The in-memory reader decodes exactly as npy_read; the cut images end inside the
 * fixed prefix, the header or the data, where a reader of a buffer must not look past
 * its end. */
static void test_npy_memory(void) {
  static const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const float values[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, -1e30f};
  unsigned char image[128 + sizeof values];
  memcpy(image, "\x93NUMPY\x01\x00\x76\x00", 10);
  memset(image + 10, ' ', 118);
  memcpy(image + 10, dict, strlen(dict));
  image[127] = '\n';
  memcpy(image + 128, values, sizeof values);

  char err[512];
  convcl_shape s;
  float *data = NULL;
  CHECK(npy_read_memory(image, sizeof image, "mem.npy", &s, &data, err, sizeof err) == 0);
  CHECK(s.ndim == 2 && s.dims[0] == 2 && s.dims[1] == 3);
  CHECK(data != NULL && memcmp(data, values, sizeof values) == 0);
  free(data);
  data = NULL;

  CHECK(memory_fails_with(image, 0, "not a .npy file"));
  CHECK(memory_fails_with(image, 7, "not a .npy file"));
  CHECK(memory_fails_with(image, 9, "truncated header"));
  CHECK(memory_fails_with(image, 60, "truncated header"));
  CHECK(memory_fails_with(image, sizeof image - 1, "truncated: the shape needs 24 bytes"));
  unsigned char longer[sizeof image + 4] = {0};
  memcpy(longer, image, sizeof image);
  CHECK(memory_fails_with(longer, sizeof longer, "4 bytes of unexpected data"));
  /* Version 2.0 has a 4-byte header length: 11 bytes hold only part of it. */
  CHECK(memory_fails_with("\x93NUMPY\x02\x00\x10\x00\x00", 11, "truncated header"));
  CHECK(npy_read_memory(NULL, 0, "mem.npy", &s, &data, err, sizeof err) != 0 && data == NULL);
}

/* Removes everything the tests wrote, then the directory. */
static void remove_tmpdir(void) {
  DIR *dir = opendir(tmpdir);
  if (dir != NULL) {
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) unlink(tmp_path(e->d_name));
    closedir(dir);
  }
  rmdir(tmpdir);
}

int main(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/test_spec.XXXXXX",
           base != NULL && base[0] != '\0' ? base : "/tmp");
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  test_constructor_calls();
  test_reprs();
  test_positional_orders();
  test_values();
  test_activation();
  test_spec_errors();
  test_shapes();
  test_npy_round_trip();
  test_npy_errors();
  test_npy_memory();
  remove_tmpdir();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
