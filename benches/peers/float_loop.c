/* bench-asm/float_loop: x = x * 1.0000001 + 0.5, K times from x = 0.0 (a multiply, then an add,
 * each rounded: compiled with -ffp-contract=off, so no fused multiply-add); prints x the way
 * Rust's f64 Display does. Arguments: K. */
#include "common.h"

int main(int argc, char **argv) {
    int64_t k_max = arg_int(argc, argv, 1);
    double x = 0.0;
    int64_t k = 0;
    while (k < k_max) {
        x = x * 1.0000001 + 0.5;
        k = add(k, 1);
    }
    print_float(x);
    return 0;
}
