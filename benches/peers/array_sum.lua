-- bench-asm/array_sum: arr[i] = (i * 37) % 1000 for i < N, then total = sum(arr) computed R
-- times; then arrays as values: a copy changed at [0] leaves the original as it was, and a
-- three-element array [arr[0], "x", empty] in display form. Lua tables are 1-based, so
-- element i lives at arr[i + 1]. Arguments: N R.
local function main(n, r)
  local arr = {}
  local i = 0
  while i < n do
    arr[i + 1] = (i * 37) % 1000
    i = i + 1
  end
  local len = #arr
  print(string.format("%d", len))
  local total, rep = 0, 0
  while rep < r do
    i = 0
    while i < len do
      total = total + arr[i + 1]
      i = i + 1
    end
    rep = rep + 1
  end
  print(string.format("%d", total))
  local copy = {}
  for k = 1, len do copy[k] = arr[k] end
  copy[1] = -1
  print(string.format("%d", arr[2]))
  print(string.format("%d", copy[1]))
  print(string.format("%d", arr[1]))
  print(string.format("[%d, x, empty]", arr[1]))
end
main(tonumber(arg[1]), tonumber(arg[2]))
