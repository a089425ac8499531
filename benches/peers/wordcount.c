/* peers:wordcount.mdasm: K words "w0".."w<K-1>", then N steps counting the word at
 * (31 * i + 7) % K in a hash table of strings (open addressing, FNV-1a, grown at half full);
 * prints the number of distinct words and the counts of the first and the last.
 * Arguments: K N. */
#include "common.h"

typedef struct {
    const char *key;
    int64_t count;
} Slot;

static Slot *table;
static size_t cap, used;

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static Slot *find(const char *key) {
    size_t i = hash(key) & (cap - 1);
    while (table[i].key && strcmp(table[i].key, key) != 0) i = (i + 1) & (cap - 1);
    return &table[i];
}

static void grow(void) {
    Slot *old = table;
    size_t old_cap = cap;
    cap = cap ? cap * 2 : 16;
    table = calloc(cap, sizeof(Slot));
    if (!table) die("out of memory");
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key) *find(old[i].key) = old[i];
    free(old);
}

int main(int argc, char **argv) {
    int64_t k = arg_int(argc, argv, 1), n = arg_int(argc, argv, 2);
    char **words = malloc(sizeof(char *) * (size_t)k);
    if (!words) die("out of memory");
    for (int64_t i = 0; i < k; i++) {
        words[i] = malloc(24);
        if (!words[i]) die("out of memory");
        snprintf(words[i], 24, "w%" PRId64, i);
    }
    grow();
    for (int64_t i = 0; i < n; i = add(i, 1)) {
        const char *w = words[floor_mod(add(mul(i, 31), 7), k)];
        Slot *s = find(w);
        if (s->key) {
            s->count = add(s->count, 1);
        } else {
            s->key = w;
            s->count = 1;
            if (++used * 2 > cap) grow();
        }
    }
    printf("%zu\n", used);
    printf("%" PRId64 "\n", find(words[0])->count);
    printf("%" PRId64 "\n", find(words[k - 1])->count);
    return 0;
}
