/* bench-asm/call_small: acc = step(acc, i) for i < N, with step(a, i) = (a + 3 * i) % 1000003;
 * prints acc. step is kept a real call (noinline): the program measures calls. Arguments: N. */
#include "common.h"

__attribute__((noinline)) static int64_t step(int64_t a, int64_t i) {
    return floor_mod(add(a, mul(i, 3)), 1000003);
}

int main(int argc, char **argv) {
    int64_t n = arg_int(argc, argv, 1);
    int64_t acc = 0, i = 0;
    while (i < n) {
        acc = step(acc, i);
        i = add(i, 1);
    }
    printf("%" PRId64 "\n", acc);
    return 0;
}
