/* ASiM configurations stored as flat JSON objects (the reference cases' config snapshots:
 * {"asim_conv_adc_prec": 8, "asim_act_enc": null, ...}) applied to an asim_config. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asim/config.h"

static const char *skip_ws(const char *p) {
  while (*p && isspace((unsigned char)*p)) p++;
  return p;
}

/* Reads a JSON string at p (after the opening quote) into out; returns the char after the closing quote. */
static const char *read_string(const char *p, char *out, size_t len) {
  size_t n = 0;
  while (*p && *p != '"') {
    char c = *p++;
    if (c == '\\' && *p) {
      c = *p++;
      if (c == 'n') c = '\n';
      else if (c == 't') c = '\t';
    }
    if (n + 1 < len) out[n++] = c;
  }
  out[n] = 0;
  return *p == '"' ? p + 1 : NULL;
}

asim_status asim_config_apply_json(asim_config *cfg, const char *json, const char *origin,
                                   const char *const *skip, int n_skip) {
  char **assign = NULL;
  int n = 0, cap = 0;
  asim_status st = ASIM_OK;
  const char *p = skip_ws(json);
  if (*p != '{') return ASIM_ERR(ASIM_EFORMAT, "%s: not a JSON object", origin);
  p = skip_ws(p + 1);
  while (*p && *p != '}') {
    char key[128], val[4096 + 2];
    if (*p != '"' || !(p = read_string(p + 1, key, sizeof key))) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: expected a quoted key", origin);
      goto done;
    }
    p = skip_ws(p);
    if (*p != ':') {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: expected ':' after \"%s\"", origin, key);
      goto done;
    }
    p = skip_ws(p + 1);
    if (*p == '"') {
      char s[4096];
      if (!(p = read_string(p + 1, s, sizeof s))) {
        st = ASIM_ERR(ASIM_EFORMAT, "%s: unterminated string for \"%s\"", origin, key);
        goto done;
      }
      snprintf(val, sizeof val, "\"%s\"", s);
    } else if (*p == '[') { /* lists (milestones): libconfig's [a, b] has the same spelling */
      const char *e = strchr(p, ']');
      if (!e || (size_t)(e - p + 1) >= sizeof val) {
        st = ASIM_ERR(ASIM_EFORMAT, "%s: bad list for \"%s\"", origin, key);
        goto done;
      }
      memcpy(val, p, (size_t)(e - p + 1));
      val[e - p + 1] = 0;
      p = e + 1;
    } else {
      size_t k = 0;
      while (*p && *p != ',' && *p != '}' && !isspace((unsigned char)*p) && k + 1 < sizeof val) val[k++] = *p++;
      val[k] = 0;
      if (!strcmp(val, "null")) strcpy(val, "\"None\"");
    }
    int skipped = 0;
    for (int i = 0; i < n_skip; i++) skipped |= !strcmp(skip[i], key);
    if (!skipped) {
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        char **na = realloc(assign, sizeof(char *) * (size_t)cap);
        if (!na) {
          st = ASIM_ERR(ASIM_ENOMEM, "json assignments");
          goto done;
        }
        assign = na;
      }
      size_t len = strlen(key) + strlen(val) + 2;
      if (!(assign[n] = malloc(len))) {
        st = ASIM_ERR(ASIM_ENOMEM, "json assignments");
        goto done;
      }
      snprintf(assign[n++], len, "%s=%s", key, val);
    }
    p = skip_ws(p);
    if (*p == ',') p = skip_ws(p + 1);
  }
  if (*p != '}') {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: unterminated JSON object", origin);
    goto done;
  }
  st = asim_config_apply(cfg, (const char *const *)assign, n, origin);
done:
  for (int i = 0; i < n; i++) free(assign[i]);
  free(assign);
  return st;
}
