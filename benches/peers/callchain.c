/* peers:callchain.mdasm: acc = (acc + f(i)) % 1000003 for i < N, with f(i) = g(i % 100) +
 * h(i), g(x) = x * x, h(x) = (x % 7) * 3; prints acc. The functions are kept real calls
 * (noinline): the program measures calls. Arguments: N. */
#include "common.h"

__attribute__((noinline)) static int64_t g(int64_t x) { return mul(x, x); }

__attribute__((noinline)) static int64_t h(int64_t x) { return mul(floor_mod(x, 7), 3); }

__attribute__((noinline)) static int64_t f(int64_t i) { return add(g(floor_mod(i, 100)), h(i)); }

int main(int argc, char **argv) {
    int64_t n = arg_int(argc, argv, 1);
    int64_t acc = 0;
    for (int64_t i = 0; i < n; i = add(i, 1)) acc = floor_mod(add(acc, f(i)), 1000003);
    printf("%" PRId64 "\n", acc);
    return 0;
}
