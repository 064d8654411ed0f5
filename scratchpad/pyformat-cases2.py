import json, random
random.seed(7)
vals=[0,1,5,65,255,1234,-1234,1234567,0xdeadbeef,-5,5000000,float(2**53),float(2**53+2),1e16,3.5,-2.5,2.5,1234.5,12345.678,0.8778775,1e100,1e-7,0.125,True,9007199254740994.0]
specs=['c','+c','#c',',c',',x','_x','#_x','#010x','08,','08_','^010','=08.2f','010,.1f','n','.2n',',n','_b','>5c','_','_.2f',',d','#o','#b','x','X','#X','_X','012,d','+08,','-08_','=+10,','*^12,','e','_e','010.3e',' 010,.2f','.3%','08.2%','_o']
out=[]
for v in vals:
  for s in specs:
    try: r=format(v,s)
    except Exception as e: r='ERR: '+str(e)
    out.append([v,s,r])
for v in ["\u00e9t\u00e9 \U0001F600", "a'b", "tab\t"]:
  out.append([v,'!a',ascii(v)])
for v,s in [("\U0001F600a",".2"),("\U0001F600",">3"),("\U0001F600x","^5")]:
  out.append([v,s,format(v,s)])
print(json.dumps(out))
