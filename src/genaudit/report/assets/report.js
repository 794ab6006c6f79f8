// genaudit HTML report: sortable, filterable, paginated tables from JSON embedded in the page.
// No network, no dependencies; inlined into report.html by genaudit/report/html.py.
(function(){
function esc(s){return String(s==null?"":s).replace(/[&<>"]/g,function(c){return {"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c];});}
function table(root){
  var spec=JSON.parse(document.getElementById(root.dataset.source).textContent);
  var rows=spec.rows,cols=spec.columns,page=0,size=%PAGE%,sortCol=-1,dir=1,query="",choice="";
  var tools=document.createElement("div");tools.className="tools";
  var input=document.createElement("input");input.type="search";input.placeholder="filter…";
  input.setAttribute("aria-label","filter "+root.id);tools.appendChild(input);
  var select=null;
  if(spec.facet!=null){select=document.createElement("select");select.setAttribute("aria-label","only");
    var vals=[""].concat(Array.from(new Set(rows.map(function(r){return r[spec.facet];}))).sort());
    vals.forEach(function(v){var o=document.createElement("option");o.value=v;o.textContent=v===""?"any "+cols[spec.facet]:v;select.appendChild(o);});
    tools.appendChild(select);}
  var count=document.createElement("span");count.className="muted";tools.appendChild(count);
  var t=document.createElement("table");var thead=t.createTHead().insertRow();
  cols.forEach(function(c,i){var th=document.createElement("th");th.textContent=c;th.onclick=function(){
    if(sortCol===i){dir=-dir;}else{sortCol=i;dir=1;}
    Array.from(thead.children).forEach(function(h){h.removeAttribute("data-dir");});
    th.setAttribute("data-dir",dir>0?"asc":"desc");page=0;draw();};thead.appendChild(th);});
  var tbody=t.createTBody();var pager=document.createElement("div");pager.className="pager tools";
  root.appendChild(tools);root.appendChild(t);root.appendChild(pager);
  function filtered(){var q=query.toLowerCase();return rows.filter(function(r){
    if(choice!==""&&String(r[spec.facet])!==choice)return false;
    return !q||r.some(function(v){return String(v==null?"":v).toLowerCase().indexOf(q)>=0;});});}
  function draw(){var f=filtered();
    if(sortCol>=0){f=f.slice().sort(function(a,b){var x=a[sortCol],y=b[sortCol];
      if(typeof x==="number"&&typeof y==="number")return (x-y)*dir;return String(x).localeCompare(String(y))*dir;});}
    var pages=Math.max(1,Math.ceil(f.length/size));if(page>=pages)page=pages-1;
    tbody.innerHTML="";f.slice(page*size,(page+1)*size).forEach(function(r){var tr=tbody.insertRow();
      r.forEach(function(v,i){var td=tr.insertCell();var cls=spec.classes&&spec.classes[i];
        if(cls)td.className=cls+String(v);td.textContent=v==null?"":(typeof v==="number"&&!Number.isInteger(v)?v.toPrecision(4):v);});});
    count.textContent=f.length+" of "+rows.length+" rows";
    pager.innerHTML="";if(pages>1){var prev=document.createElement("button");prev.textContent="‹ prev";
      prev.disabled=page===0;prev.onclick=function(){page--;draw();};var next=document.createElement("button");
      next.textContent="next ›";next.disabled=page>=pages-1;next.onclick=function(){page++;draw();};
      var info=document.createElement("span");info.textContent="page "+(page+1)+" / "+pages;
      pager.appendChild(prev);pager.appendChild(info);pager.appendChild(next);}}
  input.oninput=function(){query=input.value;page=0;draw();};
  if(select)select.onchange=function(){choice=select.value;page=0;draw();};
  draw();}
document.querySelectorAll("[data-table]").forEach(table);
})();
