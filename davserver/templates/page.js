(function(){var o={dateStyle:"medium",timeStyle:"short"};
document.querySelectorAll("time[datetime]").forEach(function(t){
var d=new Date(t.getAttribute("datetime"));if(isNaN(d))return;
t.title=t.textContent;try{t.textContent=d.toLocaleString(undefined,o);}
catch(e){t.textContent=d.toLocaleString();}});})();
