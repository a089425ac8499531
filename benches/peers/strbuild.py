"""peers:strbuild.mdasm: string building with word wrap, R times: a text of N words
"x<r + i>", a space before each word but the first, or a newline instead when the line would
pass 60 characters. Prints the length of the last text, the number of lines of all R texts and
the sum of their lengths. Arguments: N R."""
import sys


def main(n, rounds):
    lines = 0
    total = 0
    s = ""
    for r in range(rounds):
        s = ""
        col = 0
        lines += 1
        for i in range(n):
            w = "x" + str(r + i)
            if col > 0:
                if col + 1 + len(w) > 60:
                    s = s + "\n"
                    col = 0
                    lines += 1
                else:
                    s = s + " "
                    col += 1
            s = s + w
            col += len(w)
        total += len(s)
    print(len(s))
    print(lines)
    print(total)


main(int(sys.argv[1]), int(sys.argv[2]))
