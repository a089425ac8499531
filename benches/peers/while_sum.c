/* bench-asm/while_sum: sum = 1 + 2 + ... + N; prints sum, then N + 1. Arguments: N. */
#include "common.h"

int main(int argc, char **argv) {
    int64_t n = arg_int(argc, argv, 1);
    int64_t sum = 0, i = 1;
    while (!(i > n)) {
        sum = add(sum, i);
        i = add(i, 1);
    }
    printf("%" PRId64 "\n%" PRId64 "\n", sum, i);
    return 0;
}
