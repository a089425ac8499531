-- Naive recursive Fibonacci: prints fib(N). Arguments: N.
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
local n = tonumber(arg[1])
print(string.format("%d", fib(n)))
