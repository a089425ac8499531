"""peers:wordcount.mdasm: K words "w0".."w<K-1>", then N steps counting the word at
(31 * i + 7) % K in a dict; prints the number of distinct words and the counts of the first
and the last. Arguments: K N."""
import sys


def main(k, n):
    words = ["w" + str(i) for i in range(k)]
    counts = {}
    i = 0
    while i < n:
        w = words[(i * 31 + 7) % k]
        if w in counts:
            counts[w] = counts[w] + 1
        else:
            counts[w] = 1
        i += 1
    print(len(counts))
    print(counts[words[0]])
    print(counts[words[k - 1]])


main(int(sys.argv[1]), int(sys.argv[2]))
