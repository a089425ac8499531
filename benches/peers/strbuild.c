/* peers:strbuild.mdasm: string building with word wrap, R times: a text of N words
 * "x<r + i>", a space before each word but the first, or a newline instead when the line would
 * pass 60 characters; the text is a growing buffer (doubled when full), a new one each round.
 * Prints the length of the last text, the number of lines of all R texts and the sum of their
 * lengths. Arguments: N R. */
#include "common.h"

typedef struct {
    char *p;
    size_t len, cap;
} Str;

static void append(Str *s, const char *text, size_t n) {
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        while (s->len + n + 1 > cap) cap *= 2;
        s->p = realloc(s->p, cap);
        if (!s->p) die("out of memory");
        s->cap = cap;
    }
    memcpy(s->p + s->len, text, n);
    s->len += n;
    s->p[s->len] = '\0';
}

int main(int argc, char **argv) {
    int64_t n = arg_int(argc, argv, 1), rounds = arg_int(argc, argv, 2);
    int64_t lines = 0, total = 0, last = 0;
    for (int64_t r = 0; r < rounds; r = add(r, 1)) {
        Str s = {NULL, 0, 0};
        int64_t col = 0;
        lines = add(lines, 1);
        for (int64_t i = 0; i < n; i = add(i, 1)) {
            char w[24];
            int64_t wlen = snprintf(w, sizeof w, "x%" PRId64, add(r, i));
            if (col > 0) {
                if (add(add(col, 1), wlen) > 60) {
                    append(&s, "\n", 1);
                    col = 0;
                    lines = add(lines, 1);
                } else {
                    append(&s, " ", 1);
                    col = add(col, 1);
                }
            }
            append(&s, w, (size_t)wlen);
            col = add(col, wlen);
        }
        last = (int64_t)s.len;
        total = add(total, last);
        free(s.p);
    }
    printf("%" PRId64 "\n", last);
    printf("%" PRId64 "\n", lines);
    printf("%" PRId64 "\n", total);
    return 0;
}
