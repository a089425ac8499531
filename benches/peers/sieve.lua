-- peers:sieve.mdasm: the sieve of Eratosthenes over N flags, R times; prints the number of
-- primes below N. Arguments: N R. The array is 0-based, as in the bytecode.
local function main(n, rounds)
  local count = 0
  for _ = 1, rounds do
    local flags = {}
    for i = 0, n - 1 do flags[i] = true end
    count = 0
    for i = 2, n - 1 do
      if flags[i] then
        count = count + 1
        local j = i * i
        while j < n do
          flags[j] = false
          j = j + i
        end
      end
    end
  end
  print(string.format("%d", count))
end
main(tonumber(arg[1]), tonumber(arg[2]))
