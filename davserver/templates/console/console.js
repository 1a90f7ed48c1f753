(function(){document.documentElement.classList.add("js");
var live=document.getElementById("live");if(!live||!window.fetch||!window.DOMParser)return;
var o={dateStyle:"medium",timeStyle:"short"};
function localise(root){root.querySelectorAll("time[datetime]").forEach(function(t){
var d=new Date(t.getAttribute("datetime"));if(isNaN(d))return;t.title=t.textContent;
try{t.textContent=d.toLocaleString(undefined,o);}catch(e){t.textContent=d.toLocaleString();}});}
function busy(){return live.querySelector("details[open]")||live.contains(document.activeElement);}
setInterval(function(){if(document.hidden||busy())return;
fetch(location.href,{credentials:"same-origin",cache:"no-store"}).then(function(r){
return r.ok?r.text():null;}).then(function(t){if(!t||busy())return;
var n=new DOMParser().parseFromString(t,"text/html").getElementById("live");
if(n){live.innerHTML=n.innerHTML;localise(live);}}).catch(function(){});
},{{ refresh_ms }});})();
