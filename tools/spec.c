/* SPEC parsing: a small Python-call parser for PyTorch's Conv and ConvTranspose
 * constructors and their reprs, binding arguments the way Python does. */
#include "spec.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Deeper nesting than this is never a layer spec; the limit keeps the recursive
 * value parser's stack bounded on hostile input. */
#define SPEC_MAX_DEPTH 16

typedef enum tok_kind { TOK_END, TOK_NAME, TOK_NUMBER, TOK_STRING, TOK_PUNCT, TOK_BAD } tok_kind;

typedef struct token {
  tok_kind kind;
  const char *start; /* into the SPEC text */
  size_t len;        /* whole token, quotes included for strings */
} token;

typedef struct parser {
  const char *text;
  const char *pos;      /* where the lexer continues */
  const char *prev_end; /* end of the last consumed token, for source spans */
  token tok;            /* current token */
  const char *layer;    /* class name once known, for messages */
  int open;             /* brackets consumed and not yet closed */
  char *err;
  size_t errcap;
  int failed;
} parser;

typedef enum value_kind {
  VAL_INT,
  VAL_NUMBER, /* a number that is not an integer (3.0, 1e3): kept for the message */
  VAL_NAME,   /* bare, possibly dotted: True, same, torch.float32 */
  VAL_STRING,
  VAL_TUPLE
} value_kind;

typedef struct value {
  value_kind kind;
  const char *src; /* source text, for messages */
  size_t srclen;
  int64_t i;       /* VAL_INT */
  const char *str; /* VAL_STRING: contents without quotes; VAL_NAME: the name */
  size_t slen;
  int count;                         /* VAL_TUPLE: number of elements */
  int all_int;                       /* VAL_TUPLE: every element is an int */
  int64_t items[CONVCL_MAX_SPATIAL]; /* VAL_TUPLE: the first elements when ints */
} value;

/* Constructor parameters, in no particular order; the orders below are PyTorch's. */
typedef enum param {
  P_IN,
  P_OUT,
  P_KERNEL,
  P_STRIDE,
  P_PADDING,
  P_DILATION,
  P_GROUPS,
  P_BIAS,
  P_PADDING_MODE,
  P_OUTPUT_PADDING,
  P_DEVICE,
  P_DTYPE,
  P_COUNT
} param;

static const char *const param_names[P_COUNT] = {
    "in_channels", "out_channels", "kernel_size",  "stride",         "padding", "dilation",
    "groups",      "bias",         "padding_mode", "output_padding", "device",  "dtype"};

static const param conv_order[] = {P_IN,           P_OUT,      P_KERNEL, P_STRIDE,
                                   P_PADDING,      P_DILATION, P_GROUPS, P_BIAS,
                                   P_PADDING_MODE, P_DEVICE,   P_DTYPE};
static const param transposed_order[] = {
    P_IN,     P_OUT,  P_KERNEL,   P_STRIDE,       P_PADDING, P_OUTPUT_PADDING,
    P_GROUPS, P_BIAS, P_DILATION, P_PADDING_MODE, P_DEVICE,  P_DTYPE};
#define REQUIRED_PARAMS 3 /* in_channels, out_channels, kernel_size lead both orders */

typedef struct layer_kind {
  const char *name;
  int rank;
  int transposed;
} layer_kind;

static const layer_kind layers[] = {{"Conv1d", 1, 0},          {"Conv2d", 2, 0},
                                    {"Conv3d", 3, 0},          {"ConvTranspose1d", 1, 1},
                                    {"ConvTranspose2d", 2, 1}, {"ConvTranspose3d", 3, 1}};

/* Module paths a user may write in front of the class name. */
static const char *const layer_prefixes[] = {"", "nn.", "torch.nn.", "torch.nn.modules.conv."};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Records the first error only: later ones are consequences of it. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(parser *p, const char *fmt, ...) {
  if (!p->failed && p->err != NULL && p->errcap > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errcap, fmt, ap);
    va_end(ap);
  }
  p->failed = 1;
  return -1;
}

/* ---- Lexer ---------------------------------------------------------------------- */

static int is_name_start(int c) { return isalpha(c) || c == '_'; }
static int is_name_char(int c) { return isalnum(c) || c == '_'; }

static void lex(parser *p) {
  const char *s = p->pos;
  while (*s != '\0' && isspace((unsigned char)*s)) s++;
  token t = {TOK_END, s, 0};
  unsigned char c = (unsigned char)*s;
  if (c == '\0') {
    t.kind = TOK_END;
  } else if (is_name_start(c)) {
    const char *e = s + 1;
    while (is_name_char((unsigned char)*e)) e++;
    t.kind = TOK_NAME;
    t.len = (size_t)(e - s);
  } else if (isdigit(c)) {
    /* Greedy over what Python could read as one number (3.0, 1e3, 0x10, 1_000),
     * so those are reported as "not an int" rather than as stray text. */
    const char *e = s + 1;
    while (is_name_char((unsigned char)*e) || *e == '.') e++;
    t.kind = TOK_NUMBER;
    t.len = (size_t)(e - s);
  } else if (c == '\'' || c == '"') {
    const char *e = strchr(s + 1, (char)c);
    t.kind = TOK_STRING;
    t.len = e != NULL ? (size_t)(e + 1 - s) : strlen(s); /* unterminated: rest of text */
  } else if (strchr("()[],=.-+", c) != NULL) {
    t.kind = TOK_PUNCT;
    t.len = 1;
  } else {
    t.kind = TOK_BAD;
    t.len = 1;
  }
  p->tok = t;
  p->pos = s + t.len;
}

static void advance(parser *p) {
  if (p->tok.kind == TOK_PUNCT) {
    char c = p->tok.start[0];
    if (c == '(' || c == '[') p->open++;
    if (c == ')' || c == ']') p->open--;
  }
  p->prev_end = p->tok.start + p->tok.len;
  lex(p);
}

static int is_punct(const parser *p, char c) {
  return p->tok.kind == TOK_PUNCT && p->tok.start[0] == c;
}

static int column(const parser *p) { return (int)(p->tok.start - p->text) + 1; }

/* A printable excerpt of the current token for messages; bytes that would garble a
 * terminal become '?'. */
static const char *describe(const parser *p, char *buf, size_t cap) {
  if (p->tok.kind == TOK_END) return "the end of the SPEC";
  size_t n = p->tok.len, o = 0;
  const size_t limit = 40;
  if (cap < 8) return "?";
  buf[o++] = '\'';
  for (size_t i = 0; i < n && i < limit && o + 5 < cap; i++) {
    unsigned char c = (unsigned char)p->tok.start[i];
    buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  if (n > limit && o + 5 < cap) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '\'';
  buf[o] = '\0';
  return buf;
}

static int unexpected(parser *p, const char *wanted) {
  char buf[64];
  if (p->tok.kind == TOK_END && p->open > 0)
    return fail(p, "unbalanced parentheses: missing ')' at the end of the SPEC");
  if (p->tok.kind == TOK_END) return fail(p, "expected %s, but the SPEC ends", wanted);
  return fail(p, "expected %s, but got %s at column %d", wanted, describe(p, buf, sizeof buf),
              column(p));
}

/* ---- Values --------------------------------------------------------------------- */

/* Compares a dotted name as written (maybe with spaces around the dots) with
 * prefix followed by want. */
static int name_equals(const char *src, size_t len, const char *prefix, const char *want) {
  const char *parts[2] = {prefix, want};
  size_t i = 0;
  for (int k = 0; k < 2; k++) {
    for (const char *w = parts[k]; *w != '\0'; w++) {
      while (i < len && isspace((unsigned char)src[i])) i++;
      if (i >= len || src[i] != *w) return 0;
      i++;
    }
  }
  while (i < len && isspace((unsigned char)src[i])) i++;
  return i == len;
}

static int value_is_name(const value *v, const char *want) {
  return v->kind == VAL_NAME && name_equals(v->str, v->slen, "", want);
}

/* Bare names and strings both spell the string options: the repr prints
 * padding=same and padding_mode=reflect without quotes. */
static int value_is_word(const value *v, const char *want) {
  if (v->kind == VAL_STRING) return v->slen == strlen(want) && memcmp(v->str, want, v->slen) == 0;
  return value_is_name(v, want);
}

static int parse_int(parser *p, int negative, int64_t *out) {
  const char *s = p->tok.start;
  size_t n = p->tok.len;
  /* Magnitude limit: INT64_MAX, or one more for a negative number. */
  uint64_t limit = (uint64_t)INT64_MAX + (negative ? 1u : 0u), acc = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (acc > (limit - d) / 10)
      return fail(p, "the number %s%.*s at column %d does not fit in a 64-bit integer",
                  negative ? "-" : "", (int)n, s, column(p));
    acc = acc * 10 + d;
  }
  *out = negative ? (acc == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
  return 0;
}

static int is_integer_token(const token *t) {
  for (size_t i = 0; i < t->len; i++)
    if (!isdigit((unsigned char)t->start[i])) return 0;
  return 1;
}

static int parse_value(parser *p, value *v, int depth);

static int parse_sequence(parser *p, value *v, int depth) {
  char close = is_punct(p, '(') ? ')' : ']';
  int is_paren = close == ')', saw_comma = 0;
  value first;
  memset(&first, 0, sizeof first);
  advance(p);
  v->kind = VAL_TUPLE;
  v->count = 0;
  v->all_int = 1;
  while (!is_punct(p, close)) {
    value item;
    if (parse_value(p, &item, depth + 1) != 0) return -1;
    if (v->count == 0) first = item;
    if (item.kind != VAL_INT)
      v->all_int = 0;
    else if (v->count < CONVCL_MAX_SPATIAL)
      v->items[v->count] = item.i;
    if (v->count == INT32_MAX) return fail(p, "too many elements in a tuple");
    v->count++;
    if (is_punct(p, ',')) {
      saw_comma = 1;
      advance(p);
    } else if (!is_punct(p, close)) {
      return unexpected(p, close == ')' ? "',' or ')'" : "',' or ']'");
    }
  }
  advance(p);
  /* Python: (3) is the int 3, (3,) a tuple; [3] is always a list. */
  if (is_paren && v->count == 1 && !saw_comma) {
    const char *src = v->src;
    *v = first;
    v->src = src;
  }
  return 0;
}

static int parse_value(parser *p, value *v, int depth) {
  memset(v, 0, sizeof *v);
  v->src = p->tok.start;
  if (depth > SPEC_MAX_DEPTH) return fail(p, "values nest too deeply at column %d", column(p));
  int negative = 0;
  if (is_punct(p, '-') || is_punct(p, '+')) {
    negative = is_punct(p, '-');
    advance(p);
    if (p->tok.kind != TOK_NUMBER) return unexpected(p, "a number after the sign");
  }
  if (p->tok.kind == TOK_NUMBER) {
    if (is_integer_token(&p->tok)) {
      v->kind = VAL_INT;
      if (parse_int(p, negative, &v->i) != 0) return -1;
    } else {
      v->kind = VAL_NUMBER;
    }
    advance(p);
  } else if (p->tok.kind == TOK_STRING) {
    if (p->tok.len < 2 || p->tok.start[p->tok.len - 1] != p->tok.start[0])
      return fail(p, "unterminated string starting at column %d", column(p));
    v->kind = VAL_STRING;
    v->str = p->tok.start + 1;
    v->slen = p->tok.len - 2;
    advance(p);
  } else if (p->tok.kind == TOK_NAME) {
    v->kind = VAL_NAME;
    v->str = p->tok.start;
    advance(p);
    while (is_punct(p, '.')) {
      advance(p);
      if (p->tok.kind != TOK_NAME) return unexpected(p, "a name after '.'");
      advance(p);
    }
    v->slen = (size_t)(p->prev_end - v->str);
  } else if (is_punct(p, '(') || is_punct(p, '[')) {
    if (parse_sequence(p, v, depth) != 0) return -1;
  } else {
    return unexpected(p, "a value");
  }
  v->srclen = (size_t)(p->prev_end - v->src);
  return 0;
}

/* ---- Binding and conversion ----------------------------------------------------- */

typedef struct bound {
  value vals[P_COUNT];
  int set[P_COUNT];
  convcl_activation activation; /* from a "+relu" after the arguments */
} bound;

static int get_int(parser *p, const bound *b, param k, int64_t *out) {
  const value *v = &b->vals[k];
  if (v->kind != VAL_INT)
    return fail(p, "%s: %s must be an int, but got %.*s", p->layer, param_names[k], (int)v->srclen,
                v->src);
  *out = v->i;
  return 0;
}

/* An int broadcasts to every spatial dimension; a tuple must have exactly rank ints. */
static int get_spatial(parser *p, const bound *b, param k, int rank, int64_t out[]) {
  const value *v = &b->vals[k];
  if (v->kind == VAL_INT) {
    for (int d = 0; d < rank; d++) out[d] = v->i;
    return 0;
  }
  if (v->kind == VAL_TUPLE && v->all_int && v->count == rank) {
    for (int d = 0; d < rank; d++) out[d] = v->items[d];
    return 0;
  }
  return fail(p, "%s: %s must be an int or a tuple of %d int%s, but got %.*s", p->layer,
              param_names[k], rank, rank == 1 ? "" : "s", (int)v->srclen, v->src);
}

static int get_padding(parser *p, const bound *b, int transposed, int rank, convcl_conv_desc *d) {
  const value *v = &b->vals[P_PADDING];
  if (v->kind == VAL_STRING || v->kind == VAL_NAME) {
    if (transposed)
      return fail(p,
                  "%s takes no string padding (got padding=%.*s): PyTorch's ConvTranspose layers "
                  "take an int or a tuple of ints",
                  p->layer, (int)v->srclen, v->src);
    if (value_is_word(v, "same")) {
      d->padding = CONVCL_PAD_SAME;
      return 0;
    }
    if (value_is_word(v, "valid")) {
      d->padding = CONVCL_PAD_VALID;
      return 0;
    }
    return fail(p, "%s: invalid padding string '%.*s', should be one of {'valid', 'same'}",
                p->layer, (int)v->slen, v->str);
  }
  int64_t pad[CONVCL_MAX_SPATIAL];
  if (get_spatial(p, b, P_PADDING, rank, pad) != 0) return -1;
  d->padding = CONVCL_PAD_EXPLICIT;
  for (int i = 0; i < rank; i++) d->pad_begin[i] = d->pad_end[i] = pad[i];
  return 0;
}

static int get_padding_mode(parser *p, const bound *b, convcl_conv_desc *d) {
  static const struct {
    const char *name;
    convcl_padding_mode mode;
  } modes[] = {{"zeros", CONVCL_PADDING_ZEROS},
               {"reflect", CONVCL_PADDING_REFLECT},
               {"replicate", CONVCL_PADDING_REPLICATE},
               {"circular", CONVCL_PADDING_CIRCULAR}};
  const value *v = &b->vals[P_PADDING_MODE];
  for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
    if (value_is_word(v, modes[i].name)) {
      d->padding_mode = modes[i].mode;
      return 0;
    }
  }
  const char *text = v->kind == VAL_STRING ? v->str : v->src;
  size_t len = v->kind == VAL_STRING ? v->slen : v->srclen;
  return fail(p,
              "%s: padding_mode must be one of {'zeros', 'reflect', 'replicate', 'circular'}, but "
              "got padding_mode='%.*s'",
              p->layer, (int)len, text);
}

static int get_bias(parser *p, const bound *b, convcl_conv_desc *d) {
  const value *v = &b->vals[P_BIAS];
  if (value_is_name(v, "True") || value_is_name(v, "False")) {
    d->has_bias = value_is_name(v, "True");
    return 0;
  }
  return fail(p, "%s: bias must be True or False, but got %.*s", p->layer, (int)v->srclen, v->src);
}

/* convcl computes in float32; PyTorch's dtype=None means the default, float32. */
static int check_dtype(parser *p, const bound *b) {
  const value *v = &b->vals[P_DTYPE];
  if (value_is_name(v, "None") || value_is_name(v, "torch.float32") ||
      value_is_name(v, "torch.float"))
    return 0;
  return fail(p, "%s: convcl computes in float32 only, but got dtype=%.*s", p->layer,
              (int)v->srclen, v->src);
}

static int find_param(const param *order, size_t n, const char *name, size_t len, param *out) {
  for (size_t i = 0; i < n; i++) {
    const char *pn = param_names[order[i]];
    if (strlen(pn) == len && memcmp(pn, name, len) == 0) {
      *out = order[i];
      return 1;
    }
  }
  return 0;
}

static int bind(parser *p, bound *b, param k, const value *v) {
  if (b->set[k])
    return fail(p, "%s got multiple values for argument '%s'", p->layer, param_names[k]);
  b->vals[k] = *v;
  b->set[k] = 1;
  return 0;
}

/* Python's "missing 2 required positional arguments: 'out_channels' and 'kernel_size'". */
static int check_required(parser *p, const bound *b, const param *order) {
  const char *missing[REQUIRED_PARAMS];
  int n = 0;
  for (int i = 0; i < REQUIRED_PARAMS; i++)
    if (!b->set[order[i]]) missing[n++] = param_names[order[i]];
  if (n == 1)
    return fail(p, "%s missing 1 required positional argument: '%s'", p->layer, missing[0]);
  if (n == 2)
    return fail(p, "%s missing 2 required positional arguments: '%s' and '%s'", p->layer,
                missing[0], missing[1]);
  if (n == 3)
    return fail(p, "%s missing 3 required positional arguments: '%s', '%s', and '%s'", p->layer,
                missing[0], missing[1], missing[2]);
  return 0;
}

/* The layer the SPEC names, or NULL after an error. */
static const layer_kind *parse_layer_name(parser *p) {
  char buf[64];
  if (p->tok.kind == TOK_END) {
    fail(p, "empty SPEC: expected a layer such as nn.Conv2d(3, 8, 3)");
    return NULL;
  }
  if (p->tok.kind != TOK_NAME) {
    fail(p, "expected a layer such as nn.Conv2d(3, 8, 3), but got %s at column %d",
         describe(p, buf, sizeof buf), column(p));
    return NULL;
  }
  const char *start = p->tok.start, *last = p->tok.start;
  size_t last_len = p->tok.len;
  advance(p);
  while (is_punct(p, '.')) {
    advance(p);
    if (p->tok.kind != TOK_NAME) {
      unexpected(p, "a name after '.'");
      return NULL;
    }
    last = p->tok.start;
    last_len = p->tok.len;
    advance(p);
  }
  size_t len = (size_t)(p->prev_end - start);
  for (size_t i = 0; i < ARRAY_LEN(layers); i++) {
    for (size_t j = 0; j < ARRAY_LEN(layer_prefixes); j++) {
      if (name_equals(start, len, layer_prefixes[j], layers[i].name)) {
        p->layer = layers[i].name;
        return &layers[i];
      }
    }
  }
  for (size_t i = 0; i < ARRAY_LEN(layers); i++) {
    if (strlen(layers[i].name) == last_len && memcmp(layers[i].name, last, last_len) == 0) {
      fail(p, "unknown module path '%.*s': write %s, nn.%s or torch.nn.%s", (int)len, start,
           layers[i].name, layers[i].name, layers[i].name);
      return NULL;
    }
  }
  fail(p,
       "unknown layer '%.*s': convcl runs Conv1d, Conv2d, Conv3d, ConvTranspose1d, "
       "ConvTranspose2d and ConvTranspose3d",
       (int)len, start);
  return NULL;
}

/* The activation convcl fuses, appended after the layer's arguments: "+relu", "+ReLU",
 * "+ReLU()", "+nn.ReLU()", "+torch.nn.ReLU()". */
static int parse_activation(parser *p, convcl_activation *activation) {
  if (!is_punct(p, '+')) return 0;
  advance(p);
  const char *start = p->tok.start;
  while (p->tok.kind == TOK_NAME) {
    advance(p);
    if (!is_punct(p, '.')) break;
    advance(p);
  }
  if (p->tok.start == start) return unexpected(p, "an activation (relu) after '+'");
  const size_t len = (size_t)(p->prev_end - start);
  int known = 0;
  for (size_t j = 0; j < ARRAY_LEN(layer_prefixes); j++)
    known |= name_equals(start, len, layer_prefixes[j], "ReLU") ||
             name_equals(start, len, layer_prefixes[j], "relu");
  if (!known)
    return fail(p, "unknown activation '%.*s' after '+': convcl fuses relu only", (int)len, start);
  if (is_punct(p, '(')) {
    advance(p);
    if (!is_punct(p, ')')) return unexpected(p, "')': ReLU() takes no arguments here");
    advance(p);
  }
  *activation = CONVCL_ACTIVATION_RELU;
  return 0;
}

/* A keyword argument is NAME '='; looks one token ahead without consuming. */
static int at_keyword(const parser *p) {
  if (p->tok.kind != TOK_NAME) return 0;
  parser ahead = *p;
  advance(&ahead);
  return is_punct(&ahead, '=');
}

static int parse_arguments(parser *p, const param *order, size_t n_order, bound *b) {
  size_t positional = 0;
  int saw_keyword = 0;
  if (!is_punct(p, '(')) {
    if (p->tok.kind == TOK_END) return fail(p, "expected '(' and arguments after %s", p->layer);
    return unexpected(p, "'(' after the layer name");
  }
  advance(p);
  while (!is_punct(p, ')')) {
    value v;
    if (at_keyword(p)) {
      const char *name = p->tok.start;
      size_t len = p->tok.len;
      param k;
      if (!find_param(order, n_order, name, len, &k))
        return fail(p, "%s got an unexpected keyword argument '%.*s'", p->layer, (int)len, name);
      advance(p);
      advance(p);
      if (parse_value(p, &v, 0) != 0 || bind(p, b, k, &v) != 0) return -1;
      saw_keyword = 1;
    } else {
      if (saw_keyword)
        return fail(p, "positional argument follows keyword argument at column %d", column(p));
      if (parse_value(p, &v, 0) != 0) return -1;
      /* Extra positionals are counted, not bound, so the message can say how many. */
      if (positional < n_order && bind(p, b, order[positional], &v) != 0) return -1;
      positional++;
    }
    if (is_punct(p, ','))
      advance(p);
    else if (!is_punct(p, ')'))
      return unexpected(p, "',' or ')' after an argument");
  }
  advance(p);
  if (parse_activation(p, &b->activation) != 0) return -1;
  if (p->tok.kind != TOK_END) {
    char buf[64];
    if (is_punct(p, ')'))
      return fail(p, "unbalanced parentheses: unexpected ')' at column %d", column(p));
    return fail(p, "unexpected text after the closing ')': %s at column %d",
                describe(p, buf, sizeof buf), column(p));
  }
  if (positional > n_order)
    return fail(p, "%s takes from %d to %zu positional arguments but %zu were given", p->layer,
                REQUIRED_PARAMS, n_order, positional);
  return 0;
}

int spec_parse(const char *text, convcl_conv_desc *desc, char *err, size_t errcap) {
  parser p = {0};
  bound b;
  const layer_kind *kind;
  convcl_conv_desc d;
  int64_t in = 0, out = 0, kernel[CONVCL_MAX_SPATIAL] = {0};
  p.err = err;
  p.errcap = errcap;
  if (err != NULL && errcap > 0) err[0] = '\0';
  if (text == NULL || desc == NULL) return fail(&p, "no SPEC given");
  p.text = p.pos = p.prev_end = text;
  memset(&b, 0, sizeof b);
  lex(&p);
  kind = parse_layer_name(&p);
  if (kind == NULL) return -1;
  const param *order = kind->transposed ? transposed_order : conv_order;
  size_t n_order = kind->transposed ? ARRAY_LEN(transposed_order) : ARRAY_LEN(conv_order);
  if (parse_arguments(&p, order, n_order, &b) != 0 || check_required(&p, &b, order) != 0) return -1;

  if (get_int(&p, &b, P_IN, &in) != 0 || get_int(&p, &b, P_OUT, &out) != 0 ||
      get_spatial(&p, &b, P_KERNEL, kind->rank, kernel) != 0)
    return -1;
  convcl_conv_desc_init(&d, kind->rank, kind->transposed, in, out, kernel);
  if (b.set[P_STRIDE] && get_spatial(&p, &b, P_STRIDE, kind->rank, d.stride) != 0) return -1;
  if (b.set[P_DILATION] && get_spatial(&p, &b, P_DILATION, kind->rank, d.dilation) != 0) return -1;
  if (b.set[P_OUTPUT_PADDING] &&
      get_spatial(&p, &b, P_OUTPUT_PADDING, kind->rank, d.output_padding) != 0)
    return -1;
  if (b.set[P_GROUPS] && get_int(&p, &b, P_GROUPS, &d.groups) != 0) return -1;
  if (b.set[P_PADDING] && get_padding(&p, &b, kind->transposed, kind->rank, &d) != 0) return -1;
  if (b.set[P_PADDING_MODE] && get_padding_mode(&p, &b, &d) != 0) return -1;
  if (b.set[P_BIAS] && get_bias(&p, &b, &d) != 0) return -1;
  if (b.set[P_DTYPE] && check_dtype(&p, &b) != 0) return -1;
  d.activation = b.activation;
  /* device is accepted and ignored: it says where PyTorch keeps the weights, while
   * convcl picks its device with --device. */
  *desc = d;
  return 0;
}

/* ---- Shapes --------------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
shape_fail(const char *text, char *err, size_t errcap, const char *fmt, ...) {
  char detail[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (err != NULL && errcap > 0) snprintf(err, errcap, "invalid shape '%s': %s", text, detail);
  return -1;
}

int shape_parse(const char *text, convcl_shape *shape, char *err, size_t errcap) {
  convcl_shape s = {0};
  const char *c;
  char close = '\0';
  int after_comma = 0;
  if (err != NULL && errcap > 0) err[0] = '\0';
  if (text == NULL || shape == NULL) return shape_fail("", err, errcap, "no shape given");
  c = text;
  while (isspace((unsigned char)*c)) c++;
  if (*c == '(' || *c == '[') {
    close = *c == '(' ? ')' : ']';
    c++;
  }
  for (;;) {
    while (isspace((unsigned char)*c)) c++;
    if (close != '\0' && *c == close && after_comma) break; /* "(5,)" */
    if (*c == '-') return shape_fail(text, err, errcap, "sizes must be positive");
    if (!isdigit((unsigned char)*c)) {
      if (*c == '\0') return shape_fail(text, err, errcap, "expected a size at the end");
      return shape_fail(text, err, errcap, "expected a size at '%.20s'", c);
    }
    uint64_t v = 0;
    for (; isdigit((unsigned char)*c); c++) {
      unsigned d = (unsigned)(*c - '0');
      if (v > ((uint64_t)INT64_MAX - d) / 10)
        return shape_fail(text, err, errcap, "a size does not fit in a 64-bit integer");
      v = v * 10 + d;
    }
    if (is_name_char((unsigned char)*c) && *c != 'x' && *c != 'X')
      return shape_fail(text, err, errcap, "expected a size at '%.20s'", c);
    if (v == 0)
      return shape_fail(text, err, errcap, "sizes must be positive, but size %d is 0", s.ndim + 1);
    if (s.ndim == CONVCL_MAX_DIMS)
      return shape_fail(text, err, errcap, "more than %d dimensions", CONVCL_MAX_DIMS);
    s.dims[s.ndim++] = (int64_t)v;
    while (isspace((unsigned char)*c)) c++;
    if (*c == 'x' || *c == 'X' || *c == ',') {
      after_comma = *c == ',';
      c++;
      continue;
    }
    if (close != '\0' && *c == close) break;
    if (*c == '\0') {
      if (close != '\0') return shape_fail(text, err, errcap, "missing '%c'", close);
      *shape = s;
      return 0;
    }
    return shape_fail(text, err, errcap, "unexpected '%.20s'", c);
  }
  c++; /* the closing bracket */
  while (isspace((unsigned char)*c)) c++;
  if (*c != '\0') return shape_fail(text, err, errcap, "unexpected '%.20s' after '%c'", c, close);
  *shape = s;
  return 0;
}

void shape_format(const convcl_shape *shape, char *buf, size_t cap) {
  size_t len = 0;
  if (buf == NULL || cap == 0) return;
  buf[0] = '\0';
  if (shape == NULL) return;
  if (shape->ndim <= 0) {
    snprintf(buf, cap, "()");
    return;
  }
  for (int i = 0; i < shape->ndim && i < CONVCL_MAX_DIMS; i++) {
    int n = snprintf(buf + len, cap - len, "%s%" PRId64, i > 0 ? "x" : "", shape->dims[i]);
    if (n < 0 || (size_t)n >= cap - len) return; /* truncated, still terminated */
    len += (size_t)n;
  }
}
