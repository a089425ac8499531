-- peers:strbuild.mdasm: string building with word wrap, R times: a text of N words
-- "x<r + i>", a space before each word but the first, or a newline instead when the line
-- would pass 60 characters. Prints the length of the last text, the number of lines of all R
-- texts and the sum of their lengths. Arguments: N R. The text grows by `s = s .. w`, as
-- written in the other versions (Lua strings are immutable: each append copies s).
local function main(n, rounds)
  local lines, total, s = 0, 0, ""
  for r = 0, rounds - 1 do
    s = ""
    local col = 0
    lines = lines + 1
    for i = 0, n - 1 do
      local w = "x" .. string.format("%d", r + i)
      if col > 0 then
        if col + 1 + #w > 60 then
          s = s .. "\n"
          col = 0
          lines = lines + 1
        else
          s = s .. " "
          col = col + 1
        end
      end
      s = s .. w
      col = col + #w
    end
    total = total + #s
  end
  print(string.format("%d", #s))
  print(string.format("%d", lines))
  print(string.format("%d", total))
end
main(tonumber(arg[1]), tonumber(arg[2]))
