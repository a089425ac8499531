"""bench-asm/call_small: acc = step(acc, i) for i < N, with step(a, i) = (a + 3 * i) % 1000003;
prints acc. Arguments: N."""
import sys


def step(a, i):
    return (a + i * 3) % 1000003


def main(n):
    acc = 0
    i = 0
    while i < n:
        acc = step(acc, i)
        i = i + 1
    print(acc)


main(int(sys.argv[1]))
