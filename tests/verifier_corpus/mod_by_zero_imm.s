w0 = 1
w0 %= 0
exit
