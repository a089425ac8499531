-- bench-asm/call_small: acc = step(acc, i) for i < N, with step(a, i) = (a + 3 * i) % 1000003;
-- prints acc. Arguments: N.
local function step(a, i)
  return (a + i * 3) % 1000003
end
local function main(n)
  local acc, i = 0, 0
  while i < n do
    acc = step(acc, i)
    i = i + 1
  end
  print(string.format("%d", acc))
end
main(tonumber(arg[1]))
