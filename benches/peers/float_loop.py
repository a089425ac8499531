"""bench-asm/float_loop: x = x * 1.0000001 + 0.5, K times from x = 0.0; prints x the way Rust's
f64 Display does (the fewest decimals that read back as the same double). Arguments: K."""
import sys


def display(x):
    for d in range(21):
        s = "%.*f" % (d, x)
        if float(s) == x:
            return s
    return s


def main(kmax):
    x = 0.0
    k = 0
    while k < kmax:
        x = x * 1.0000001 + 0.5
        k = k + 1
    print(display(x))


main(int(sys.argv[1]))
