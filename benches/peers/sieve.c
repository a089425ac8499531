/* peers:sieve.mdasm: the sieve of Eratosthenes over N flags, R times; prints the number of
 * primes below N. Arguments: N R. */
#include "common.h"
#include <stdbool.h>

int main(int argc, char **argv) {
    int64_t n = arg_int(argc, argv, 1), rounds = arg_int(argc, argv, 2);
    int64_t count = 0;
    for (int64_t r = 0; r < rounds; r = add(r, 1)) {
        bool *flags = malloc((size_t)n);
        if (!flags) die("out of memory");
        for (int64_t i = 0; i < n; i = add(i, 1)) flags[i] = true;
        count = 0;
        for (int64_t i = 2; i < n; i = add(i, 1)) {
            if (!flags[i]) continue;
            count = add(count, 1);
            for (int64_t j = mul(i, i); j < n; j = add(j, i)) flags[j] = false;
        }
        free(flags);
    }
    printf("%" PRId64 "\n", count);
    return 0;
}
