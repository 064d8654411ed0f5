import json
vals=[0.00001,1e-7,0.125,2.5,3.5,0.5,1.5,2.675,1e22,123.456,99.9,1234.5,0.0001,12.0,0.1,1/3,2/3,1e16,123456789.0,5e-324,1.7976931348623157e308,0.0,255,-3.14159,-0.5,7,1000000,12345.6789]
specs=['','.2f','.0f','.1f','.3f','e','.2e','.0e','g','.3g','.1g','.10g','#.3g','.3','.1','.20','%','.1%',',.1f',',','>12.3f','+.2f','G','E','.3G']
out=[]
for v in vals:
  for s in specs:
    if v==int(v) and s in ('.3','.1','.20') and abs(v)<1e16: 
      # ints in our JSON semantics: Python refuses precision on ints; skip
      continue
    try: r=format(float(v) if v!=int(v) or abs(v)>=1e16 or s not in ('',',') else int(v), s)
    except Exception as e: r='ERR'
    out.append([v,s,r])
for v in ["it's",'say "hi"','both \' and "','a\tb\nc\r','\x00\x7f\x85','\u2028x','\U0001F600','caf\u00e9','\u200b']:
  out.append([v,'!r',repr(v)])
print(json.dumps(out))
