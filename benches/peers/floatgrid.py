"""peers:floatgrid.mdasm: relaxation on a W x H grid of floats in a flat list, cell (x, y)
starting at float((37 * x + 91 * y) % 101); K sweeps in which every interior cell becomes
(left + right + up + down) * 0.25 of the previous grid (two lists, swapped after each sweep;
the border keeps its values). Prints the sum over all cells of int(v * 1000) and
int(v * 1000000) of the cell (W / 2, H / 2). Arguments: W H K."""
import sys


def main(w, h, k):
    a = [0.0] * (w * h)
    b = [0.0] * (w * h)
    for y in range(h):
        for x in range(w):
            v = float((x * 37 + y * 91) % 101)
            a[y * w + x] = v
            b[y * w + x] = v
    for _ in range(k):
        for y in range(1, h - 1):
            row = y * w
            for x in range(1, w - 1):
                i = row + x
                b[i] = (a[i - 1] + a[i + 1] + a[i - w] + a[i + w]) * 0.25
        a, b = b, a
    total = 0
    for i in range(w * h):
        total += int(a[i] * 1000.0)
    print(total)
    print(int(a[(h // 2) * w + w // 2] * 1000000.0))


main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
