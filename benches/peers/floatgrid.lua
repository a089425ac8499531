-- peers:floatgrid.mdasm: relaxation on a W x H grid of floats in a flat array, cell (x, y)
-- starting at float((37 * x + 91 * y) % 101); K sweeps in which every interior cell becomes
-- (left + right + up + down) * 0.25 of the previous grid (two arrays, swapped after each
-- sweep; the border keeps its values). Prints the sum over all cells of int(v * 1000) and
-- int(v * 1000000) of the cell (W / 2, H / 2), truncated (math.floor: the cells are never
-- negative). Arguments: W H K. The arrays are 0-based, as in the bytecode.
local function main(w, h, k)
  local a, b = {}, {}
  for y = 0, h - 1 do
    for x = 0, w - 1 do
      local v = (x * 37 + y * 91) % 101 + 0.0
      a[y * w + x] = v
      b[y * w + x] = v
    end
  end
  for _ = 1, k do
    for y = 1, h - 2 do
      local row = y * w
      for x = 1, w - 2 do
        local i = row + x
        b[i] = (a[i - 1] + a[i + 1] + a[i - w] + a[i + w]) * 0.25
      end
    end
    a, b = b, a
  end
  local sum = 0
  for i = 0, w * h - 1 do sum = sum + math.floor(a[i] * 1000.0) end
  print(string.format("%d", sum))
  local centre = math.floor(h / 2) * w + math.floor(w / 2)
  print(string.format("%d", math.floor(a[centre] * 1000000.0)))
end
main(tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3]))
