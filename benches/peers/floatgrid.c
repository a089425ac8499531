/* peers:floatgrid.mdasm: relaxation on a W x H grid of doubles in a flat array, cell (x, y)
 * starting at (37 * x + 91 * y) % 101; K sweeps in which every interior cell becomes
 * (left + right + up + down) * 0.25 of the previous grid (two arrays, swapped after each
 * sweep; the border keeps its values). Prints the sum over all cells of (int64_t)(v * 1000)
 * and (int64_t)(v * 1000000) of the cell (W / 2, H / 2). Arguments: W H K. */
#include "common.h"

int main(int argc, char **argv) {
    int64_t w = arg_int(argc, argv, 1), h = arg_int(argc, argv, 2), k = arg_int(argc, argv, 3);
    int64_t cells = mul(w, h);
    double *a = malloc(sizeof(double) * (size_t)cells), *b = malloc(sizeof(double) * (size_t)cells);
    if (!a || !b) die("out of memory");
    for (int64_t y = 0; y < h; y = add(y, 1))
        for (int64_t x = 0; x < w; x = add(x, 1)) {
            double v = (double)floor_mod(add(mul(x, 37), mul(y, 91)), 101);
            a[add(mul(y, w), x)] = v;
            b[add(mul(y, w), x)] = v;
        }
    for (int64_t s = 0; s < k; s = add(s, 1)) {
        for (int64_t y = 1; y < sub(h, 1); y = add(y, 1)) {
            int64_t row = mul(y, w);
            for (int64_t x = 1; x < sub(w, 1); x = add(x, 1)) {
                int64_t i = add(row, x);
                b[i] = (a[sub(i, 1)] + a[add(i, 1)] + a[sub(i, w)] + a[add(i, w)]) * 0.25;
            }
        }
        double *t = a;
        a = b;
        b = t;
    }
    int64_t sum = 0;
    for (int64_t i = 0; i < cells; i = add(i, 1)) sum = add(sum, (int64_t)(a[i] * 1000.0));
    printf("%" PRId64 "\n", sum);
    printf("%" PRId64 "\n", (int64_t)(a[add(mul(h / 2, w), w / 2)] * 1000000.0));
    free(a);
    free(b);
    return 0;
}
