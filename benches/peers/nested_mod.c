/* bench-asm/nested_mod: acc = sum of (i * j) % 7 (floor modulo) for i in [-A, B) and j in
 * [1, M]; prints acc, then -7 % 2 and 7 % -2. Arguments: A B M. */
#include "common.h"

int main(int argc, char **argv) {
    int64_t a = arg_int(argc, argv, 1), b = arg_int(argc, argv, 2), m = arg_int(argc, argv, 3);
    int64_t acc = 0;
    int64_t i = -a;
    while (i < b) {
        int64_t j = 1;
        while (j <= m) {
            acc = add(acc, floor_mod(mul(i, j), 7));
            j = add(j, 1);
        }
        i = add(i, 1);
    }
    printf("%" PRId64 "\n", acc);
    printf("%" PRId64 "\n", floor_mod(-7, 2));
    printf("%" PRId64 "\n", floor_mod(7, -2));
    return 0;
}
