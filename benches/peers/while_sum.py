"""bench-asm/while_sum: sum = 1 + 2 + ... + N; prints sum, then N + 1. Arguments: N."""
import sys


def main(n):
    total = 0
    i = 1
    while not (i > n):
        total = total + i
        i = i + 1
    print(total)
    print(i)


main(int(sys.argv[1]))
