"""peers:isort.mdasm: insertion sort, R times, of N pseudo-random ints (x = (75 * x + 74) %
65537, carried across rounds); the sum of the element at index 7 after each sort.
Arguments: N R."""
import sys


def main(n, rounds):
    x = 12345
    total = 0
    for _ in range(rounds):
        a = [0] * n
        for i in range(n):
            x = (x * 75 + 74) % 65537
            a[i] = x
        for i in range(1, n):
            key = a[i]
            j = i - 1
            while j >= 0 and a[j] > key:
                a[j + 1] = a[j]
                j -= 1
            a[j + 1] = key
        total += a[7]
    print(total)


main(int(sys.argv[1]), int(sys.argv[2]))
