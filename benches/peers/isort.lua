-- peers:isort.mdasm: insertion sort, R times, of N pseudo-random ints (x = (75 * x + 74) %
-- 65537, carried across rounds); the sum of the element at index 7 after each sort.
-- Arguments: N R. The array is 0-based, as in the bytecode.
local function main(n, rounds)
  local x, sum = 12345, 0
  for _ = 1, rounds do
    local a = {}
    for i = 0, n - 1 do
      x = (x * 75 + 74) % 65537
      a[i] = x
    end
    for i = 1, n - 1 do
      local key, j = a[i], i - 1
      while j >= 0 and a[j] > key do
        a[j + 1] = a[j]
        j = j - 1
      end
      a[j + 1] = key
    end
    sum = sum + a[7]
  end
  print(string.format("%d", sum))
end
main(tonumber(arg[1]), tonumber(arg[2]))
