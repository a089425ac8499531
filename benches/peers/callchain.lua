-- peers:callchain.mdasm: acc = (acc + f(i)) % 1000003 for i < N, with f(i) = g(i % 100) +
-- h(i), g(x) = x * x, h(x) = (x % 7) * 3; prints acc. Arguments: N.
local function g(x) return x * x end
local function h(x) return (x % 7) * 3 end
local function f(i) return g(i % 100) + h(i) end
local function main(n)
  local acc, i = 0, 0
  while i < n do
    acc = (acc + f(i)) % 1000003
    i = i + 1
  end
  print(string.format("%d", acc))
end
main(tonumber(arg[1]))
