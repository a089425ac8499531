"""peers:sieve.mdasm: the sieve of Eratosthenes over N flags, R times; prints the number of
primes below N. Arguments: N R."""
import sys


def main(n, rounds):
    count = 0
    for _ in range(rounds):
        flags = [True] * n
        count = 0
        i = 2
        while i < n:
            if flags[i]:
                count += 1
                j = i * i
                while j < n:
                    flags[j] = False
                    j += i
            i += 1
    print(count)


main(int(sys.argv[1]), int(sys.argv[2]))
