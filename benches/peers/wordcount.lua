-- peers:wordcount.mdasm: K words "w0".."w<K-1>", then N steps counting the word at
-- (31 * i + 7) % K in a table; prints the number of distinct words and the counts of the
-- first and the last. Arguments: K N. The words array is 0-based, as in the bytecode.
local function main(k, n)
  local words = {}
  for i = 0, k - 1 do words[i] = "w" .. string.format("%d", i) end
  local counts, distinct = {}, 0
  for i = 0, n - 1 do
    local w = words[(i * 31 + 7) % k]
    local c = counts[w]
    if c then
      counts[w] = c + 1
    else
      counts[w] = 1
      distinct = distinct + 1
    end
  end
  print(string.format("%d", distinct))
  print(string.format("%d", counts[words[0]]))
  print(string.format("%d", counts[words[k - 1]]))
end
main(tonumber(arg[1]), tonumber(arg[2]))
