/* bench-asm/array_sum: arr[i] = (i * 37) % 1000 for i < N, then total = sum(arr) computed R
 * times; then arrays as values: a copy changed at [0] leaves the original as it was, and a
 * three-element array [arr[0], "x", empty] in display form. Arguments: N R. */
#include "common.h"

int main(int argc, char **argv) {
    int64_t n = arg_int(argc, argv, 1), r = arg_int(argc, argv, 2);
    int64_t *arr = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!arr) die("out of memory");
    int64_t i = 0;
    while (i < n) {
        arr[i] = floor_mod(mul(i, 37), 1000);
        i = add(i, 1);
    }
    int64_t len = n;
    printf("%" PRId64 "\n", len);
    int64_t total = 0, rep = 0;
    while (rep < r) {
        i = 0;
        while (i < len) {
            total = add(total, arr[i]);
            i = add(i, 1);
        }
        rep = add(rep, 1);
    }
    printf("%" PRId64 "\n", total);
    int64_t *copy = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!copy) die("out of memory");
    memcpy(copy, arr, sizeof(int64_t) * (size_t)n);
    copy[0] = -1;
    printf("%" PRId64 "\n", arr[1]);
    printf("%" PRId64 "\n", copy[0]);
    printf("%" PRId64 "\n", arr[0]);
    printf("[%" PRId64 ", x, empty]\n", arr[0]);
    free(copy);
    free(arr);
    return 0;
}
