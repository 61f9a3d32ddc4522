/** The dashboard's single self-contained page (no external assets; untrusted text only through textContent). */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LLM resilience dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1d2330;background:#f6f7f9}
h1{font-size:20px;margin:0 0 1rem} h2{font-size:15px;margin:1.5rem 0 .5rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:.75rem 1rem;min-width:150px}
.card .v{font-size:22px;font-weight:600}.card .l{color:#667085;font-size:12px}
table{border-collapse:collapse;background:#fff;width:100%;border:1px solid #dde1e7}th,td{padding:.35rem .6rem;border-bottom:1px solid #eef0f3;text-align:left;vertical-align:top}
th{background:#fafbfc;font-weight:600;font-size:12px;color:#475467}
.state{display:inline-block;padding:0 .5rem;border-radius:10px;font-size:12px;font-weight:600}
.closed{background:#dcfae6;color:#067647}.open{background:#fee4e2;color:#b42318}.half_open{background:#fef0c7;color:#b54708}
#chart{background:#fff;border:1px solid #dde1e7;border-radius:8px}.muted{color:#667085}.ans{max-width:420px;white-space:pre-wrap;word-break:break-word}
</style></head><body>
<h1>LLM resilience <span id="updated" class="muted"></span></h1>
<div class="cards">
 <div class="card"><div class="v" id="fallbackRate">–</div><div class="l">fallback rate</div></div>
 <div class="card"><div class="v" id="hitRatio">–</div><div class="l">cache hit ratio</div></div>
 <div class="card"><div class="v" id="requests">–</div><div class="l">requests</div></div>
 <div class="card"><div class="v" id="spendHour">–</div><div class="l">spend, last hour</div></div>
 <div class="card"><div class="v" id="spendDay">–</div><div class="l">spend, last day</div></div>
</div>
<h2>Models</h2>
<table><thead><tr><th>model</th><th>breaker</th><th>cool-down</th><th>p50</th><th>p95</th><th>p99</th><th>timeout</th><th>in flight</th><th>answers</th><th>spend</th></tr></thead><tbody id="models"></tbody></table>
<h2>p95 latency over time</h2>
<svg id="chart" width="900" height="180" viewBox="0 0 900 180"></svg>
<h2>Fallback review log (newest first)</h2>
<table><thead><tr><th>time</th><th>task</th><th>reason</th><th>models tried</th><th>answered by</th><th>answer</th></tr></thead><tbody id="review"></tbody></table>
<script>
const COLORS=['#2e90fa','#f04438','#12b76a','#f79009','#7a5af8','#ee46bc'];
const el=(tag,text,cls)=>{const e=document.createElement(tag);if(text!==undefined)e.textContent=String(text);if(cls)e.className=cls;return e;};
const ms=(v)=>v==null?'–':Math.round(v)+' ms';const pct=(v)=>v==null?'–':(v*100).toFixed(1)+'%';const usd=(v)=>{v=Number(v||0);return '$'+(v!==0&&v<0.01?v.toFixed(6):v.toFixed(4));};
function render(d){
 document.getElementById('updated').textContent='· updated '+new Date(d.at).toLocaleTimeString();
 document.getElementById('fallbackRate').textContent=pct(d.fallbackRate);document.getElementById('hitRatio').textContent=pct(d.cacheHitRatio);
 document.getElementById('requests').textContent=d.requests;document.getElementById('spendHour').textContent=usd(d.spend.lastHourUsd);document.getElementById('spendDay').textContent=usd(d.spend.lastDayUsd);
 const tb=document.getElementById('models');tb.replaceChildren();
 for(const m of d.models){const tr=el('tr');tr.dataset.model=m.name;const l=m.latency['*']||{};
  const st=el('td');st.append(el('span',m.state.replace('_','-'),'state '+m.state));
  const cd=m.cooldownUntil?Math.max(0,Math.ceil((m.cooldownUntil-Date.now())/1000))+' s':'–';
  tr.append(el('td',m.name),st,el('td',cd,'cooldown'),el('td',ms(l.p50)),el('td',ms(l.p95)),el('td',ms(l.p99)),el('td',ms(m.timeoutMs)),el('td',m.inFlight),el('td',m.spend.requests),el('td',usd(m.spend.costUsd)));tb.append(tr);}
 const rv=document.getElementById('review');rv.replaceChildren();
 for(const r of d.review.slice().reverse()){const tr=el('tr');tr.append(el('td',new Date(r.at).toLocaleTimeString()),el('td',r.task||''),el('td',r.reason),el('td',r.modelsTried.map(a=>a.model+' '+a.outcome).join(' → ')),el('td',r.answeredBy||'–'),el('td',r.answer||'',"ans"));rv.append(tr);}
 chart(d.history);
}
function chart(h){const svg=document.getElementById('chart');svg.replaceChildren();if(!h.length)return;const W=900,H=180,P=30;
 const names=[...new Set(h.flatMap(p=>Object.keys(p.p95)))];const max=Math.max(100,...h.flatMap(p=>Object.values(p.p95).filter(v=>v!=null)));
 const t0=h[0].t,t1=Math.max(h[h.length-1].t,t0+1);const x=t=>P+(t-t0)/(t1-t0)*(W-2*P);const y=v=>H-P-(v/max)*(H-2*P);
 const ns='http://www.w3.org/2000/svg';const add=(tag,attrs,text)=>{const e=document.createElementNS(ns,tag);for(const k in attrs)e.setAttribute(k,attrs[k]);if(text)e.textContent=text;svg.append(e);return e;};
 add('text',{x:4,y:14,'font-size':11,fill:'#667085'},Math.round(max)+' ms');add('line',{x1:P,x2:W-P,y1:H-P,y2:H-P,stroke:'#dde1e7'});
 names.forEach((n,i)=>{const pts=h.filter(p=>p.p95[n]!=null).map(p=>x(p.t).toFixed(1)+','+y(p.p95[n]).toFixed(1)).join(' ');if(pts)add('polyline',{points:pts,fill:'none',stroke:COLORS[i%COLORS.length],'stroke-width':2});add('text',{x:W-P-120,y:16+14*i,'font-size':11,fill:COLORS[i%COLORS.length]},n);});}
const params=new URLSearchParams(location.search);const q=params.get('token')?'?token='+encodeURIComponent(params.get('token')):'';
function poll(){fetch('data'+q).then(r=>r.json()).then(render).catch(()=>{}).finally(()=>setTimeout(poll,1000));}
if(window.EventSource){const es=new EventSource('feed'+q);es.addEventListener('snapshot',e=>render(JSON.parse(e.data)));es.onerror=()=>{es.close();poll();};}else poll();
</script></body></html>`;
