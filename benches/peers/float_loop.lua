-- bench-asm/float_loop: x = x * 1.0000001 + 0.5, K times from x = 0.0; prints x the way Rust's
-- f64 Display does (the fewest decimals that read back as the same double). Arguments: K.
local function display(x)
  local s
  for d = 0, 20 do
    s = string.format("%." .. d .. "f", x)
    if tonumber(s) == x then break end
  end
  return s
end
local function main(kmax)
  local x = 0.0
  local k = 0
  while k < kmax do
    x = x * 1.0000001 + 0.5
    k = k + 1
  end
  print(display(x))
end
main(tonumber(arg[1]))
