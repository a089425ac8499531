"""bench-asm/nested_mod: acc = sum of (i * j) % 7 (floor modulo, as Python's %) for i in
[-A, B) and j in [1, M]; prints acc, then -7 % 2 and 7 % -2. Arguments: A B M."""
import sys


def main(a, b, m):
    acc = 0
    i = -a
    while i < b:
        j = 1
        while j <= m:
            acc = acc + (i * j) % 7
            j = j + 1
        i = i + 1
    print(acc)
    print(-7 % 2)
    print(7 % -2)


main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
