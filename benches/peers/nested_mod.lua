-- bench-asm/nested_mod: acc = sum of (i * j) % 7 (floor modulo, as Lua's %) for i in [-A, B)
-- and j in [1, M]; prints acc, then -7 % 2 and 7 % -2. Arguments: A B M.
local function main(a, b, m)
  local acc = 0
  local i = -a
  while i < b do
    local j = 1
    while j <= m do
      acc = acc + (i * j) % 7
      j = j + 1
    end
    i = i + 1
  end
  print(string.format("%d", acc))
  print(string.format("%d", -7 % 2))
  print(string.format("%d", 7 % -2))
end
main(tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3]))
