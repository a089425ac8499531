-- bench-asm/while_sum: sum = 1 + 2 + ... + N; prints sum, then N + 1. Arguments: N.
local function main(n)
  local sum, i = 0, 1
  while not (i > n) do
    sum = sum + i
    i = i + 1
  end
  print(string.format("%d", sum))
  print(string.format("%d", i))
end
main(tonumber(arg[1]))
