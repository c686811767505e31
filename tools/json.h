/* JSON output shared by the CLI and the bench. */
#ifndef CONVCL_TOOLS_JSON_H
#define CONVCL_TOOLS_JSON_H

#include <stdio.h>

/* Writes s as a JSON string literal: quotes and backslashes escaped, control
 * characters as \u00XX. */
void json_write_string(FILE *out, const char *s);

#endif
