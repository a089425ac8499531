/* Naive recursive Fibonacci: prints fib(N). Arguments: N. */
#include "common.h"

static int64_t fib(int64_t n) {
    if (n < 2) return n;
    return add(fib(sub(n, 1)), fib(sub(n, 2)));
}

int main(int argc, char **argv) {
    int64_t n = arg_int(argc, argv, 1);
    printf("%" PRId64 "\n", fib(n));
    return 0;
}
