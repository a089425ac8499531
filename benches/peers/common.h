/* Helpers shared by the C peers: mdvm's semantics where they differ from plain C.
 * Integer + - * are checked for overflow (mdvm reports overflow as an error, so the C code
 * pays for the same check); % is floor modulo (the result takes the divisor's sign); floats
 * print the way Rust's f64 Display writes them (shortest text that reads back the same, no
 * exponent). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what) {
    fprintf(stderr, "error: %s\n", what);
    exit(1);
}

static inline int64_t add(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) die("integer overflow");
    return r;
}

static inline int64_t sub(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) die("integer overflow");
    return r;
}

static inline int64_t mul(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) die("integer overflow");
    return r;
}

static inline int64_t floor_mod(int64_t a, int64_t b) {
    if (b == 0) die("division by zero");
    if (b == -1) return 0;
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

static int64_t arg_int(int argc, char **argv, int i) {
    if (i >= argc) die("missing size argument");
    return strtoll(argv[i], NULL, 10);
}

/* Rust's f64 Display for finite values below 1e16 in magnitude: the fewest decimals that read
 * back as the same double. */
__attribute__((unused)) static void print_float(double x) {
    char buf[64];
    for (int d = 0; d <= 20; d++) {
        snprintf(buf, sizeof buf, "%.*f", d, x);
        if (strtod(buf, NULL) == x) break;
    }
    if (strcmp(buf, "-0") == 0 && !(x < 0)) strcpy(buf, "0");
    puts(buf);
}
