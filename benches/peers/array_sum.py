"""bench-asm/array_sum: arr[i] = (i * 37) % 1000 for i < N, then total = sum(arr) computed R
times (by an explicit loop, as the bytecode does); then arrays as values: a copy changed at [0]
leaves the original as it was, and a three-element array [arr[0], "x", empty] in display form.
Arguments: N R."""
import sys


def main(n, r):
    arr = [None] * n
    i = 0
    while i < n:
        arr[i] = (i * 37) % 1000
        i = i + 1
    length = len(arr)
    print(length)
    total = 0
    rep = 0
    while rep < r:
        i = 0
        while i < length:
            total = total + arr[i]
            i = i + 1
        rep = rep + 1
    print(total)
    copy = list(arr)
    copy[0] = -1
    print(arr[1])
    print(copy[0])
    print(arr[0])
    print("[%d, x, empty]" % arr[0])


main(int(sys.argv[1]), int(sys.argv[2]))
