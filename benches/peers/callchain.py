"""peers:callchain.mdasm: acc = (acc + f(i)) % 1000003 for i < N, with f(i) = g(i % 100) +
h(i), g(x) = x * x, h(x) = (x % 7) * 3; prints acc. Arguments: N."""
import sys


def g(x):
    return x * x


def h(x):
    return (x % 7) * 3


def f(i):
    return g(i % 100) + h(i)


def main(n):
    acc = 0
    i = 0
    while i < n:
        acc = (acc + f(i)) % 1000003
        i = i + 1
    print(acc)


main(int(sys.argv[1]))
