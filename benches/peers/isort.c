/* peers:isort.mdasm: insertion sort, R times, of N pseudo-random ints (x = (75 * x + 74) %
 * 65537, carried across rounds); the sum of the element at index 7 after each sort.
 * Arguments: N R. */
#include "common.h"

int main(int argc, char **argv) {
    int64_t n = arg_int(argc, argv, 1), rounds = arg_int(argc, argv, 2);
    int64_t *a = malloc(sizeof(int64_t) * (size_t)n);
    if (!a) die("out of memory");
    int64_t x = 12345, sum = 0;
    for (int64_t r = 0; r < rounds; r = add(r, 1)) {
        for (int64_t i = 0; i < n; i = add(i, 1)) {
            x = floor_mod(add(mul(x, 75), 74), 65537);
            a[i] = x;
        }
        for (int64_t i = 1; i < n; i = add(i, 1)) {
            int64_t key = a[i], j = sub(i, 1);
            while (j >= 0 && a[j] > key) {
                a[add(j, 1)] = a[j];
                j = sub(j, 1);
            }
            a[add(j, 1)] = key;
        }
        sum = add(sum, a[7]);
    }
    printf("%" PRId64 "\n", sum);
    free(a);
    return 0;
}
